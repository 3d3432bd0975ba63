#!/usr/bin/env bash
# Commit the run records under benchmarks/runs (see README.md here).
#   bash benchmarks/runs/commit.sh              every finished stage not yet committed
#   bash benchmarks/runs/commit.sh --unfinished  also the last.pt of every unfinished
#                                                stage (after stopping the runs with SIGINT)
# A finished stage is a directory with a result.json; its checkpoints leave the index
# unless .gitignore here keeps them. Refuses when files outside benchmarks/runs are staged.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
if git diff --cached --name-only | grep -qv '^benchmarks/runs/'; then
    echo "files outside benchmarks/runs are staged; commit or unstage them first" >&2
    exit 2
fi
finished=()
while IFS= read -r result; do
    stage=$(dirname "$result")
    [ -n "$(git status --porcelain -- "$stage")" ] || continue
    git add -- "$stage"
    while IFS= read -r checkpoint; do
        if git check-ignore -q --no-index "$checkpoint"; then
            git rm -q --cached -- "$checkpoint"
        fi
    done < <(git ls-files -- "$stage" | grep '\.pt$' || true)
    finished+=("${stage#benchmarks/runs/} $(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
a, t = r.get("accuracy"), r.get("train_seconds")
print((f"{100 * a:.2f} %" if isinstance(a, (int, float)) and a == a else "done")
      + (f" ({t:.0f} s)" if t else ""))' "$result")")
done < <(find benchmarks/runs -name result.json | sort)
unfinished=()
if [ "${1:-}" = "--unfinished" ]; then
    while IFS= read -r checkpoint; do
        stage=$(dirname "$checkpoint")
        [ -e "$stage/result.json" ] && continue
        git add -- "$stage"
        git add -f -- "$checkpoint"
        unfinished+=("${stage#benchmarks/runs/}")
    done < <(find benchmarks/runs -name last.pt | sort)
fi
if git diff --cached --quiet; then
    echo "nothing new"
    exit 0
fi
message="benchmarks/runs:"
[ ${#finished[@]} -gt 0 ] && message+=" finished stages: $(IFS=';'; echo "${finished[*]}" | sed 's/;/; /g')."
[ ${#unfinished[@]} -gt 0 ] && message+=" Unfinished stages' checkpoints (the next session resumes them): $(IFS=';'; echo "${unfinished[*]}" | sed 's/;/; /g')."
# no pathspec: a pathspec commit would take the working tree's ignored checkpoints back in
git commit -q -m "$message"
git log --oneline -1
