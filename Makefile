# smpp-gateway: the two commands a newcomer needs are `make run` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CONFIG  ?= config/gateway.example.toml
API_KEY ?= dev-key-change-me
SIM_PORT ?= 2775
SIM_CONTROL_PORT ?= 2776

.PHONY: install run test lint fmt bench bench-smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Start the bundled SMSC simulator and the gateway against it (SQLite store in var/).
run: install
	@mkdir -p var
	@$(VENV)/bin/smpp-gateway smsc-sim --port $(SIM_PORT) --control-port $(SIM_CONTROL_PORT) \
		--pdu-log var/smsc-sim.pdu.jsonl > var/smsc-sim.log 2>&1 & echo $$! > var/smsc-sim.pid
	@echo "SMSC simulator on 127.0.0.1:$(SIM_PORT) (control http://127.0.0.1:$(SIM_CONTROL_PORT)/stats, PDU log var/smsc-sim.pdu.jsonl)"
	@echo "Send a message:"
	@echo "  curl -s -H 'X-Mitto-API-Key: $(API_KEY)' -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"from\":\"MITTO SMS\",\"to\":\"41791234567\",\"text\":\"Hello, World!\"}' http://127.0.0.1:8080/sms"
	@trap 'kill $$(cat var/smsc-sim.pid) 2>/dev/null; rm -f var/smsc-sim.pid' EXIT INT TERM; \
		SMPP_GATEWAY_HTTP_API_KEYS="$${SMPP_GATEWAY_HTTP_API_KEYS:-$(API_KEY)}" \
		SMPP_GATEWAY_SMPP_PASSWORD="$${SMPP_GATEWAY_SMPP_PASSWORD:-password}" \
		$(VENV)/bin/smpp-gateway run --config $(CONFIG)

# On 4 pytest-xdist processes (most tests wait on daemons, so 4 keep 2 cores busy); the
# CPU-hungry ones (marked xdist_group "heavy") run one after another on one of them.
test: install
	$(PY) -m pytest -q -n 4 --dist loadgroup

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmark (docs/benchmarks.md): full run ~12 min on 2 cores, results in bench/results/.
bench: install
	$(PY) -m bench $(BENCH_ARGS)

# A few seconds, every scenario once with tiny counts (also part of `make test`).
bench-smoke: install
	$(PY) -m bench --smoke $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
