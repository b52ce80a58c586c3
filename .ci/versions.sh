#!/usr/bin/env bash
# .ci/versions.sh: hydraflow's tests on the other versions it supports. .ci/run
# makes the venvs while the cluster starts (--install) and tests in them after the
# main suite (--test); without either it does both (bash .ci/versions.sh [NAME...]).
#
#   hydra-main  Hydra's main branch (the wheel in ../shared/hydra-main, beside the
#               repository) with OmegaConf 2.4 from the package index, on python3:
#               the plugin and end-to-end tests
#   py3.10      the oldest Python hydraflow supports, hydra-core 1.3 from the index:
#               the unit and plugin tests
#   py3.13      the newest, likewise
#
# Each environment is a fresh venv under build/ci-venvs/ (git ignores build/),
# installed with pip from the package index and that wheel only. No Slurm
# cluster: tests/slurm is never run here. Its log is build/ci-logs/NAME.log.
#
# Output: one line per environment at the end ("NAME ok|FAILED ..."), then a total
# line (both also in build/ci-logs/versions-*.txt, for .ci/run's closing summary).
# Exit status: 1 when any environment failed, to install or to test.
set -uo pipefail
cd "$(dirname "$0")/.."

VENVS=build/ci-venvs
LOGS=build/ci-logs
WHEEL_DIR=../shared/hydra-main

# The main suite (~7 min) and these together must stay well under 20 minutes on
# 2 cores, so each environment runs the files that test what differs there:
#
# hydra-main (~4 min): every plugin test, and the end-to-end files (a sweep, hydraflow
# run, status and retry, the README's console examples). Left out: the unit files
# that never touch Hydra (syntax, plan, runplan, jobfile, manifest, executor), and
# test_never_lose's sweeps stopped half way by a signal (~60 s: the executor's and
# the manifest's work, the same on any Hydra; its retries and replays do run).
HYDRA_MAIN_TESTS=(tests/plugin tests/test_run_e2e.py tests/test_readme.py tests/test_cli.py
                  tests/test_never_lose.py
                  # These two fake "Hydra main" on hydra-core 1.3 by hiding get_overrides_dirname; on
                  # Hydra main, whose composition needs no such name, test_versions.py tests the fallback.
                  --deselect tests/plugin/test_compose.py::test_without_private_names_a_sweep_gives_the_same_results
                  -k "not test_without_private_names_runs_are_composed_by_hydras_public_path and not stopped_half_way and not optuna")
# py3.10, py3.13 (~2 min each): the unit and plugin tests. Left out for time, as they
# run on the main suite's Python and on hydra-main, and test nothing the interpreter
# changes: test_never_lose.py (~70 s), test_run_e2e.py (~30 s), test_readme.py (~15 s),
# test_syntax_properties.py (~20 s; test_syntax.py runs), plugin/test_example_app.py
# (~60 s) and plugin/test_hydra_suites.py (~30 s).
PYTHON_TESTS=(tests/test_syntax.py tests/test_plan.py tests/test_runplan.py tests/test_jobfile.py
              tests/test_manifest.py tests/test_executor.py tests/test_cli.py
              tests/plugin/test_compose.py tests/plugin/test_exec.py tests/plugin/test_install.py
              tests/plugin/test_versions.py tests/plugin/test_lean_parts.py tests/test_sweep_cli.py)

# Hydra 1.4 deprecations that hydraflow cannot act on, kept out of the stderr the
# tests compare (test_versions.py checks that hydraflow itself raises no warning):
# - the example app's @hydra.main(version_base="1.3") (the application's code);
# - Hydra's own Callbacks instantiating the sweeper swap callback with no target
#   whitelist: Hydra gives plugins no way to pass one (see callback.py).
HYDRA_MAIN_WARNINGS="ignore:The version_base parameter is deprecated"
HYDRA_MAIN_WARNINGS+=",ignore:hydra.utils.instantiate() resolved _target_='hydra_plugins.hydraflow_launcher.callback.UseHydraflowSweeper'"

declare -a SUMMARY=()
TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0
STATUS=0

# find_python 3.10: an interpreter of that version (pyenv's, or pythonX.Y on PATH); nothing if none.
find_python() {
    local version=$1 pyenv_root candidate
    pyenv_root=$(pyenv root 2>/dev/null || true)
    for candidate in "${PYENV_ROOT:-}/versions/$version".*/bin/python "$pyenv_root/versions/$version".*/bin/python \
                     "$HOME/.pyenv/versions/$version".*/bin/python "$(command -v "python$version" 2>/dev/null)"; do
        if [[ -x "$candidate" ]] && "$candidate" -c \
            "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$version')" 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
}

# count LINE WORDS: the number before WORDS (a regex) in pytest's closing LINE, summed; 0 if none.
count() {
    { grep -oE "[0-9]+ ($2)" <<<"$1" || true; } | awk '{ n += $1 } END { print n + 0 }'
}

# record NAME STATE DETAIL: one summary line.
record() {
    SUMMARY+=("$(printf '%-11s %-7s %s' "$1" "$2" "$3")")
    [[ "$2" == ok ]] || STATUS=1
}

# make_venv NAME PYTHON PIP-ARGS...: a fresh venv with PIP-ARGS installed; its python on stdout.
make_venv() {
    local name=$1 python=$2 dir="$VENVS/$1"
    shift 2
    rm -rf "$dir"
    "$python" -m venv "$dir" >>"$LOGS/$name.log" 2>&1 &&
        "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >>"$LOGS/$name.log" 2>&1 &&
        echo "$dir/bin/python"
}

# run_tests NAME PYTHON TESTS...: pytest on TESTS; records the outcome with its counts.
run_tests() {
    local name=$1 python=$2 started counts passed failed skipped versions rc
    shift 2
    versions=$("$python" -c "import sys, hydra, omegaconf; print(f'python {sys.version.split()[0]}, hydra-core \
{hydra.__version__}, omegaconf {omegaconf.__version__}')" 2>>"$LOGS/$name.log")
    echo "+ [$name] $versions: pytest -q $*"
    started=$SECONDS
    # 3 workers: no Slurm test waits here, the cluster is stopped and the 2 cores are the tests'.
    "$python" -m pytest -q -n 3 --dist loadfile "$@" 2>&1 | tee -a "$LOGS/$name.log" | tail -n 25
    rc=${PIPESTATUS[0]}
    counts=$(tail -n 1 "$LOGS/$name.log")
    passed=$(count "$counts" passed)
    failed=$(count "$counts" 'failed|errors?')
    skipped=$(count "$counts" skipped)
    TOTAL_PASSED=$((TOTAL_PASSED + passed)) TOTAL_FAILED=$((TOTAL_FAILED + failed))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped))
    local detail="$versions: $passed passed, $failed failed, $skipped skipped in $((SECONDS - started)) s"
    if [[ $rc -eq 0 && $passed -gt 0 ]]; then
        record "$name" ok "$detail"
    else
        record "$name" FAILED "$detail (pytest exit $rc; log $LOGS/$name.log)"
    fi
}

# install_env NAME: NAME's venv; its python's path in $VENVS/NAME.python, or why not in $VENVS/NAME.failed.
install_env() {
    local name=$1 wheel interpreter python="" reason=""
    : >"$LOGS/$name.log"
    rm -f "$VENVS/$name.python" "$VENVS/$name.failed"
    case "$name" in
        hydra-main)
            wheel=$(ls "$WHEEL_DIR"/hydra_core-*.whl 2>/dev/null | head -n 1)
            if [[ -z "$wheel" ]]; then
                echo "!!! .ci/versions.sh: no Hydra main wheel in $WHEEL_DIR (../shared beside the repository)" >&2
                reason="no wheel $WHEEL_DIR/hydra_core-*.whl"
            # One pip call: the wheel and the pre-release OmegaConf it needs satisfy the project's own ranges.
            elif ! python=$(make_venv hydra-main python3 "$wheel" "omegaconf>=2.4.0.dev15" -e ".[test]"); then
                reason="install failed (log $LOGS/hydra-main.log)"
            fi ;;
        py3.*)
            interpreter=$(find_python "${name#py}")
            if [[ -z "$interpreter" ]]; then
                echo "!!! .ci/versions.sh: no Python ${name#py} (looked in pyenv's versions and for python${name#py}" \
                     "on PATH)" >&2
                reason="no Python ${name#py} found"
            elif ! python=$(make_venv "$name" "$interpreter" -e ".[test]"); then
                reason="install failed (log $LOGS/$name.log)"
            fi ;;
        *)
            echo "!!! .ci/versions.sh: unknown environment $name" >&2
            reason="unknown" ;;
    esac
    if [[ -n "$reason" ]]; then
        echo "$reason" >"$VENVS/$name.failed"
        return 1
    fi
    echo "$python" >"$VENVS/$name.python"
}

# test_env NAME: NAME's tests in the venv install_env made (recorded as failed when it made none).
test_env() {
    local name=$1 python why
    if [[ ! -s "$VENVS/$name.python" ]]; then
        why=$(cat "$VENVS/$name.failed" 2>/dev/null || echo "no venv: bash .ci/versions.sh --install $name")
        record "$name" FAILED "$why"
        return
    fi
    python=$(<"$VENVS/$name.python")
    case "$name" in
        hydra-main) PYTHONWARNINGS="$HYDRA_MAIN_WARNINGS" run_tests hydra-main "$python" "${HYDRA_MAIN_TESTS[@]}" ;;
        *) run_tests "$name" "$python" "${PYTHON_TESTS[@]}" ;;
    esac
}

main() {
    local install=1 test=1 names name
    case "${1:-}" in
        --install) test=0; shift ;;  # only make the venvs (.ci/run: while the cluster starts)
        --test) install=0; shift ;;  # only test, in the venvs --install made
    esac
    names=("$@")
    [[ ${#names[@]} -gt 0 ]] || names=(hydra-main py3.10 py3.13)
    mkdir -p "$VENVS" "$LOGS"
    unset HYDRAFLOW_REQUIRE_SLURM  # no cluster here (and tests/slurm is not run)
    if ((install)); then
        for name in "${names[@]}"; do
            install_env "$name" || STATUS=1
        done
    fi
    ((test)) || return "$STATUS"
    for name in "${names[@]}"; do
        test_env "$name"
    done
    # For .ci/run's closing summary: the lines, then the counts.
    printf '%s\n' "${SUMMARY[@]}" >"$LOGS/versions-summary.txt"
    echo "$TOTAL_PASSED $TOTAL_FAILED $TOTAL_SKIPPED" >"$LOGS/versions-counts.txt"
    echo
    echo "Environments:"
    printf '  %s\n' "${SUMMARY[@]}"
    echo "versions: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
    return "$STATUS"
}

main "$@"
