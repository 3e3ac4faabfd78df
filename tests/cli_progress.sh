#!/usr/bin/env bash
# The training progress bar in a real terminal: vae train runs in detached
# tmux panes 60 and 80 columns wide. Every redraw of the bar fits the pane
# (a line that wraps leaves a trail of half-lines: the pane is captured
# while training runs and must never show more than one bar line), the
# bar line gives the ETA of the epoch and of the whole run, and "evaluating"
# is shown while the test set runs (read from everything the pane received).
. "$(dirname "$0")/cli_lib.sh"
command -v tmux >/dev/null || { echo "tmux is not installed; skipping"; exit 77; }

# enough steps (750 per epoch) that the bar stays up for several captures
make_data "$T/d" 3000 1500 28 28
export TMUX_TMPDIR="$T"    # a private tmux server, gone with $T
for w in 60 80; do
    s="vae-progress-$$-$w"
    tmux -f /dev/null new-session -d -s "$s" -x "$w" -y 30 \
        "tmux wait-for go-$w; cd '$WORK' && '$VAE' train --data '$T/d' --out '$T/run$w' --epochs 2 --batch 4 --hidden 64 --zdim 4 \
         --threads 1 --no-images; echo EXIT=\$?; sleep 60" || { bad "tmux could not start a $w-column pane"; continue; }
    # training starts only once the pane is piped: on a loaded machine it could
    # otherwise draw its first bars (or all of them) before pipe-pane attaches
    tmux pipe-pane -t "$s" -o "cat >> '$T/raw$w'"
    tmux wait-for -S "go-$w"
    worst=0 seen=0
    for i in $(seq 1 1200); do   # up to 2 minutes (sanitizer builds, loaded machines)
        tmux capture-pane -p -J -t "$s" > "$T/pane$w" 2>/dev/null || break
        grep -q '^EXIT=' "$T/pane$w" && break
        bars=$(grep -cE '^epoch [0-9]+/[0-9]+ (\[|evaluating)' "$T/pane$w")
        [ "$bars" -gt "$worst" ] && worst=$bars
        [ "$bars" -gt 0 ] && seen=$((seen + 1))
        sleep 0.1
    done
    tmux kill-session -t "$s" 2>/dev/null
    check "$w columns: training finished (exit 0)" grep -qx 'EXIT=0' "$T/pane$w"
    check "$w columns: the bar was seen while training ($seen captures)" test "$seen" -gt 0
    check "$w columns: never more than one bar line in the pane (worst $worst)" test "$worst" -le 1
    # everything drawn, split at carriage returns, escape codes removed
    tr '\r' '\n' < "$T/raw$w" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -E '^epoch [0-9]+/[0-9]+ (\[|evaluating)' > "$T/lines$w"
    long=$(awk -v w="$w" 'length($0) > w - 1' "$T/lines$w" | head -1)
    check "$w columns: every redraw fits in $((w - 1)) columns ('$long')" test -z "$long"
    check "$w columns: the bar gives the epoch's and the run's ETA" grep -qE 'ETA [0-9hms?]+, run [0-9hms?]+' "$T/lines$w"
    check "$w columns: 'evaluating' is shown while the test set runs" grep -q 'evaluating' "$T/lines$w"
done
finish
