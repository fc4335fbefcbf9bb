# The two commands of the README.

.PHONY: demo test bench soak build

# Run the demo gateway on http://127.0.0.1:8080 (upstream on :9000).
# The demo login page calls the management API with the demo operator key.
demo:
	TOKENGATE_DEMO_OPERATOR_KEY=$${TOKENGATE_DEMO_OPERATOR_KEY:-demo-operator-key} \
		go run ./cmd/caddy run --config Caddyfile.example --adapter caddyfile

# Run every test: unit tests, fuzz seeds and the end-to-end tests against a
# real Caddy (built by the integration tests), all with the race detector.
test:
	go test -race -count=1 -timeout 20m ./...

# Build the custom Caddy binary.
build:
	go build -o caddy ./cmd/caddy

# Load test: the machine's limits, then every route on bbolt, memory and Redis
# against them, with each issue 10 target PASS/FAIL (docs/performance.md).
bench:
	./bench/run.sh

# Mixed 10-minute soak on bbolt: do RSS and the store file level off?
soak:
	./bench/soak.sh
