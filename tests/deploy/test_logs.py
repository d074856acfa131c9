"""Logs: one structured summary line per proxied call, JSON when asked, and never the prompt or completion."""

import json
import logging
import subprocess
import sys

import httpx
import openai
import pytest
from django.core.exceptions import ImproperlyConfigured

from core.logs import ACCESS_LOGGER, PAYLOAD_LOGGERS, JsonFormatter, logging_config
from tests.deploy.servers import ROOT, gateway_env, served_gateway
from tests.proxy.helpers import set_price

HELLO = [{"role": "user", "content": "hi"}]

PROMPT = "prompt-marker-5f1c secret plans"
COMPLETION = "completion-marker-9d2e the answer"


def test_each_call_logs_one_summary_line_with_ids_model_status_and_latency(gateway, customer, upstream, caplog):
    set_price("gpt-4o-mini")
    upstream.set(text=COMPLETION, input_tokens=12, output_tokens=4)
    caplog.set_level(logging.DEBUG)  # everything, at every level
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
    )
    assert raw.parse().choices[0].message.content == COMPLETION
    gateway.drain()

    lines = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert len(lines) == 1
    record = json.loads(JsonFormatter().format(lines[0]))
    assert record["level"] == "INFO" and record["logger"] == ACCESS_LOGGER
    assert record["request_id"] == raw.headers["x-request-id"]
    assert record["user_id"] == customer.account.user_id
    assert (record["model"], record["provider"], record["status"]) == ("gpt-4o-mini", "openai", 200)
    assert isinstance(record["latency_ms"], int) and record["latency_ms"] >= 0
    assert (record["input_tokens"], record["output_tokens"]) == (12, 4)
    assert customer.key not in json.dumps(record)

    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert PROMPT not in everything and COMPLETION not in everything
    assert customer.key not in everything


def test_json_lines_carry_extra_fields_and_tracebacks():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("here",), exc_info=True, extra={"request_id": "r-1"}
        )
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed here" and parsed["request_id"] == "r-1"
    assert "ValueError: boom" in parsed["exc"]


def test_payload_printing_libraries_stay_at_warning_unless_explicitly_enabled():
    held = logging_config(log_format="plain", level="DEBUG", payloads=False)["loggers"]
    assert all(held[name]["level"] == "WARNING" for name in (*PAYLOAD_LOGGERS, "LiteLLM"))
    opened = logging_config(log_format="plain", level="DEBUG", payloads=True)["loggers"]
    assert all(opened[name]["level"] == "DEBUG" for name in (*PAYLOAD_LOGGERS, "LiteLLM"))


@pytest.mark.parametrize(("log_format", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_bad_log_settings_fail_at_start_naming_the_variable(log_format, level):
    with pytest.raises(ImproperlyConfigured, match=r"LOG_FORMAT|LOG_LEVEL"):
        logging_config(log_format=log_format, level=level, payloads=False)


@pytest.mark.timeout(600)  # migrations, two commands and a served gateway, each its own process
@pytest.mark.engine_independent  # a served gateway on its own SQLite file
def test_under_log_format_json_every_line_is_json_and_each_calls_lines_carry_its_request_id(tmp_path, upstream):
    env = gateway_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'logs.sqlite3'}",
        LOG_FORMAT="json",
        ADMIN_API_KEY="adm-test-logs",
        OPENAI_API_KEY="sk-upstream-openai",
        OPENAI_API_BASE=f"{upstream.url}/v1",
        GATEWAY_SPOOL_DIR=str(tmp_path / "spool"),
    )

    def manage(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    manage("migrate", "-v0")
    manage("create_account", "--user-id", "acme")
    key = manage("create_key", "--user-id", "acme")
    with served_gateway(env, log_dir=tmp_path) as gateway:
        price = {"model": "gpt-4o-mini", "input_per_mtok": "0", "output_per_mtok": "0"}
        headers = {"Authorization": "Bearer adm-test-logs"}
        assert httpx.post(f"{gateway.url}/api/costs/", json=price, headers=headers, timeout=30).status_code == 201
        sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
        answered = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        upstream.set(error_status=429, error_message="Slow down, says the provider.")
        with pytest.raises(openai.RateLimitError) as raised:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    lines = [line for line in gateway.output().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, the server's own and the warnings' included
    assert not any("No directory at" in line for line in lines)  # WhiteNoise's warning about STATIC_ROOT
    refused = raised.value.response.headers["x-request-id"]
    warnings = [r for r in records if r["level"] == "WARNING" and "Slow down, says the provider." in r["message"]]
    assert warnings and all(r["request_id"] == refused for r in warnings)
    access = {r["request_id"]: r for r in records if r["logger"] == ACCESS_LOGGER}
    assert access[refused]["status"] == 429
    assert access[answered.headers["x-request-id"]]["cost_usd"] == "0"  # not "0E-10"
