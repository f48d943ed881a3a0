# Shared by bench/serve.sh and bench/soak.sh (sourced): a stand-in fused model, and a
# `shelf serve` started on a free port. Expects SHELF (the binary), DATA (fashion's folder),
# T (a scratch folder) and SERVER_PID (set here) from the caller.

# fused_standin MODEL ROWS WIDTH: trains MODEL, unless it exists, with --modality both for one
# epoch on fashion's first ROWS training products, its CNN WIDTH channels wide.
fused_standin() {
  [ -f "$1" ] && return 0
  echo "training a stand-in fused model on the first $2 training products" >&2
  mkdir -p "$T/small"
  head -n $(($2 + 1)) "$DATA/train.csv" > "$T/small/train.csv"
  ln -sfn "$DATA/images" "$T/small/images"
  "$SHELF" train --train "$T/small/train.csv" --out "$1" --modality both --epochs 1 \
    --width "$3" --threads 2 --quiet
}

# start_server MODEL [OPTION...]: serves MODEL with 2 threads and the token in $T/token, its
# log in $T/serve.log; sets SERVER_PID and PORT, or exits when it does not start.
start_server() {
  local model=$1; shift
  "$SHELF" serve --model "$model" --port 0 --threads 2 --token-file "$T/token" "$@" \
    2> "$T/serve.log" &
  SERVER_PID=$!
  for _ in $(seq 300); do
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/serve.log" | grep -o '[0-9]*$' || true)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "$0: the server did not start: $(cat "$T/serve.log")" >&2
  exit 1
}
