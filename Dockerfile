# The image infra/bot.json runs: drbot, the Adaptive Cards templates, CA certificates and the
# shared libraries the binary links (glibc, OpenSSL, libgcc), nothing else: no shell, no
# package manager. FROM scratch pulls nothing; scripts/build-image assembles the root
# filesystem from Debian packages into build/image/rootfs and also writes the same image as an
# OCI layout without a Docker engine. With an engine:
#
#   scripts/build-image                      # build/image/rootfs and build/image/oci
#   docker build -f Dockerfile build/image/rootfs -t <registry>/drbot:<tag>
FROM scratch
COPY / /
USER 65532:65532
WORKDIR /var/lib/drbot
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 3978
ENTRYPOINT ["/app/drbot"]
# Configuration from the environment (infra/bot.json sets it); `serve --config FILE` also works.
CMD ["serve"]
