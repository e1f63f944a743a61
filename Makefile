# The two commands at the top of README.md:
#   make demo   - everything on loopback: Consul, HAProxy, the handler, sample nodes
#   make test   - installs what is missing, then lint, typecheck and every test suite
.PHONY: deps build lint typecheck unit integration playbook cluster test demo demo-stop bench soak clean deb package-test

deps:
	bash scripts/install-deps.sh

build: deps
	npm run --silent build

lint: deps
	npm run --silent lint

typecheck: deps
	npm run --silent typecheck

unit: build
	node test/run-suite.mjs unit

integration: build
	node test/run-suite.mjs integration

playbook: build
	bash test/playbook/run.sh

cluster: build
	bash test/playbook/cluster.sh

# dist/deb/consul-haproxy-handler_<version>_all.deb (DEB_VERSION=... for another version)
deb: build
	bash packaging/deb/build.sh

test: deps
	bash scripts/test-all.sh

demo: build
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo.sh stop

# make bench BENCH="--quick --only latency,scale"
bench: build
	node dist/bench/run-all.js $(BENCH)

# make soak SEED=42 MINUTES=60: faults drawn from the seed, under load (test/soak/soak.ts)
SEED ?=
MINUTES ?= 3
soak: build
	node dist/test/soak/soak.js --seed "$(SEED)" --minutes "$(MINUTES)"

clean:
	rm -rf dist
