FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --system --home /data callbridge && mkdir -p /data \
    && chown callbridge /data
USER callbridge
EXPOSE 2343
CMD ["callbridge", "serve"]
