# Asterisk 16 from Debian bullseye, the version callbridge is tested against.
FROM debian:bullseye-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends asterisk asterisk-modules \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/log/asterisk/cdr-csv
CMD ["asterisk", "-f", "-n", "-vvv"]
