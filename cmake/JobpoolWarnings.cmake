# jobpool::warnings: the one set of warnings every target of ours links.
# Generated code does not link it.
add_library(jobpool_warnings INTERFACE)
add_library(jobpool::warnings ALIAS jobpool_warnings)
target_compile_options(jobpool_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wnull-dereference -Wimplicit-fallthrough
  $<$<CXX_COMPILER_ID:Clang>:-Wthread-safety>
  $<$<BOOL:${JOBPOOL_WERROR}>:-Werror>)
