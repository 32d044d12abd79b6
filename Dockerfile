# jobpoold and jobctl on Debian 12.
#   podman build --network=host -t jobpool .      (or docker build -t jobpool .)
#   podman run --rm -p 127.0.0.1:50051:50051 -p 127.0.0.1:9464:9464 jobpool
# Flags go after the image name; any jobpoold flag can also come from the
# environment as FLAGS_<name> (e.g. -e FLAGS_pool_size=64), see README
# "Deploy".

# --- build: the README's CMake build (release preset), without tests ---
FROM debian:bookworm AS build
COPY scripts/packages.txt scripts/install-deps /src/scripts/
RUN /src/scripts/install-deps build
COPY . /src
WORKDIR /src
RUN cmake --preset release -DJOBPOOL_BUILD_TESTS=OFF -DJOBPOOL_BUILD_BENCH=OFF \
        -DCMAKE_CXX_COMPILER_LAUNCHER= \
 && cmake --build --preset release --target jobpoold jobctl \
 && strip build/release/server/jobpoold build/release/client/jobctl/jobctl

# --- runtime: the shared libraries, the two binaries, a non-root user ---
FROM debian:bookworm
COPY scripts/packages.txt scripts/install-deps /tmp/deps/
RUN /tmp/deps/install-deps runtime \
 && rm -rf /tmp/deps /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin jobpool
COPY --from=build /src/build/release/server/jobpoold /src/build/release/client/jobctl/jobctl /usr/local/bin/
USER 10001:10001
WORKDIR /tmp
# gRPC, and the Prometheus metrics port.
EXPOSE 50051 9464
# SIGTERM drains: admitted jobs finish (within --grace_period), then exit 0.
STOPSIGNAL SIGTERM
ENV JOBPOOL_SERVER=127.0.0.1:50051
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["jobctl", "--timeout=2s", "--attempts=1", "health"]
ENTRYPOINT ["jobpoold", "--listen=0.0.0.0:50051", "--metrics_listen=0.0.0.0:9464", \
            "--tryfromenv=config,replica,pool_size,nonblocking,max_blocking,expiry,prealloc,max_payload_bytes,max_retained_jobs,retention,default_job_timeout,grace_period,max_message_bytes,max_connection_age,max_command_output,auth_token_file,anonymous_submit,insecure_allow_unauthenticated_remote,tls_cert_file,tls_key_file,tls_client_ca_file,tls_reload_interval,max_params,max_param_bytes,max_batch_jobs,max_retained_batches,max_idempotency_keys,max_queued_payload_bytes,max_retained_output_bytes,max_concurrent_streams,max_grpc_memory"]
