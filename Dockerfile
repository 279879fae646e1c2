# Starling on Debian 12 with Zeek (from the Zeek project's own packages), nfdump and
# redis-server, so every input format works in the container.
#   docker build -t starling .
#   docker run --rm -v "$PWD:/data" starling analyze /data/capture.log -o /data/out
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/zeek/bin:/opt/starling/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
      python3 python3-venv redis-server nfdump \
 && echo 'deb https://download.opensuse.org/repositories/security:/zeek/Debian_12/ /' \
      > /etc/apt/sources.list.d/zeek.list \
 && curl -fsSL https://download.opensuse.org/repositories/security:zeek/Debian_12/Release.key \
      | gpg --dearmor > /etc/apt/trusted.gpg.d/zeek.gpg \
 && apt-get update \
 && apt-get install -y --no-install-recommends zeek-lts \
 && apt-get purge -y curl gnupg && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python3 -m venv /opt/starling \
 && /opt/starling/bin/pip install --no-cache-dir . \
 && rm -rf /src

WORKDIR /data
ENTRYPOINT ["starling"]
CMD ["--help"]
