#!/usr/bin/env bash
# The test command (README): installs what is missing, then runs these passes, each in a build
# dir of its own, and exits non-zero if any of them failed (all of them run, so one report
# shows every failure):
#   plain  build/       warnings as errors, the whole CTest suite
#   asan   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, the whole CTest suite
#   tsan   build-tsan/  ThreadSanitizer, the integration tests (multi-worker agents)
#   fuzz   build-fuzz/  clang + libFuzzer (+ASan/UBSan), the bounded fuzz runs (label fuzz)
#   package build-package/ the DEB/RPM/TGZ packages built, lintian-checked, installed into this
#          machine with dpkg, run, upgraded and purged (label package; root or sudo, Debian;
#          127.0.0.1:8080 and :9001 free: packaging/test/package_test.sh)
# With no arguments everything runs: that is what CI runs. For a quick local run choose the
# passes, e.g. DLB_TEST_PASSES=plain scripts/test.sh -L unit. Arguments go to ctest in the
# plain and asan passes. JOBS sets the parallelism (default: nproc).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PASSES=${DLB_TEST_PASSES:-plain,asan,tsan,fuzz,package}
JOBS=${JOBS:-$(nproc)}
BUILD_DIR=${BUILD_DIR:-build}
failed=()

wants() { [[ ",$PASSES," == *",$1,"* ]]; }

for p in ${PASSES//,/ }; do
  case "$p" in plain|asan|tsan|fuzz|package) ;; *)
    echo "test.sh: unknown pass \"$p\" in DLB_TEST_PASSES; the passes are plain,asan,tsan,fuzz,package" >&2
    exit 2 ;;
  esac
done

scripts/install-deps.sh || exit 1

# run_pass NAME DIR "CMAKE ARGS..." BUILD_TARGET CTEST_ARGS...
run_pass() {
  local name=$1 dir=$2 cmake_args=$3 target=$4
  shift 4
  local start=$SECONDS
  echo "=== test.sh: pass $name ($dir)"
  # shellcheck disable=SC2086 # cmake_args is a word list
  if cmake -S . -B "$dir" -DDLB_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo $cmake_args &&
     cmake --build "$dir" -j"$JOBS" ${target:+--target "$target"} &&
     (cd "$dir" && ctest --output-on-failure --no-tests=error -j"$JOBS" "$@"); then
    echo "=== test.sh: pass $name passed in $((SECONDS - start)) s"
  else
    echo "=== test.sh: pass $name FAILED after $((SECONDS - start)) s"
    failed+=("$name")
  fi
}

wants plain && run_pass plain "$BUILD_DIR" "" "" "$@"
wants asan && run_pass asan build-asan "-DDLB_SANITIZE=address,undefined" "" "$@"
# Only the integration tests need the TSan build of the tests; the agent and replica they
# start are built as their dependencies. The console's integration tests (tst_console_*) are
# left out: Qt is not instrumented and QMutex waits on futexes TSan cannot see, so their
# threads would report races in code TSan only half sees; the ASan pass runs them.
wants tsan && run_pass tsan build-tsan "-DDLB_SANITIZE=thread" dlb_integration_tests -L integration -E '^tst_console_'
# The fuzz build needs no Qt: only the fuzz targets and what they link are built.
wants fuzz && run_pass fuzz build-fuzz \
  "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDLB_SANITIZE=address,undefined -DDLB_FUZZ=ON -DDLB_BUILD_TESTS=OFF" \
  dlb_fuzz -L fuzz
# The packages are built from a build of their own without the test suite (only what ships),
# and the test that installs them is registered only there (DLB_PACKAGE_TESTS), so the plain
# pass never touches the machine's packages.
wants package && run_pass package build-package "-DDLB_BUILD_TESTS=OFF -DDLB_HARDENING=ON -DDLB_PACKAGE_TESTS=ON" "" -L package

if [ ${#failed[@]} -ne 0 ]; then
  echo "test.sh: FAILED passes: ${failed[*]}" >&2
  exit 1
fi
echo "test.sh: all passes ($PASSES) passed"
