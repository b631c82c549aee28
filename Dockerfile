FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY projects projects
COPY audits audits
COPY findings findings
RUN pip install --no-cache-dir .
COPY . .
RUN useradd --create-home plumbline && chown -R plumbline /app
USER plumbline
EXPOSE 8000
