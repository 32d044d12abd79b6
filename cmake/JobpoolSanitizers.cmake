# Applies JOBPOOL_SANITIZE to everything built in this tree.
if(JOBPOOL_SANITIZE)
  set(_flags -fsanitize=${JOBPOOL_SANITIZE} -fno-omit-frame-pointer
             -fno-sanitize-recover=all)
  add_compile_options(${_flags})
  add_link_options(${_flags})
  message(STATUS "jobpool: sanitizers ${JOBPOOL_SANITIZE}")
endif()
