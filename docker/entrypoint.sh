#!/bin/sh
# Start the dispatcher for the store (it survives app restarts and adopts running workers), then the app.
set -e
STORE="${HEADSTART_STORE:-/data/headstart-store}"
mkdir -p "$STORE"
python -m training worker --store "$STORE" >> "$STORE/dispatcher.log" 2>&1 &
exec streamlit run app.py --server.port=8501 --server.address=0.0.0.0
