# Runs one libFuzzer binary for SECONDS on a scratch copy of its seed corpus
# (so CI never writes into the source tree). Any crash, leak, sanitizer report
# or property violation makes libFuzzer exit non-zero, and this script fails
# with the reproducer's path.
#
# -D FUZZER=<binary> SEEDS=<dir> WORK=<scratch dir> SECONDS=<n>

foreach(_v FUZZER SEEDS WORK SECONDS)
    if(NOT DEFINED ${_v})
        message(FATAL_ERROR "run_fuzzer.cmake: ${_v} not set")
    endif()
endforeach()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
if(IS_DIRECTORY "${SEEDS}")
    file(GLOB _seeds "${SEEDS}/*")
    if(_seeds)
        file(COPY ${_seeds} DESTINATION "${WORK}/corpus")
    endif()
endif()

execute_process(
    COMMAND "${FUZZER}"
            -max_total_time=${SECONDS}
            -rss_limit_mb=1024
            -timeout=20
            -max_len=4096
            -print_final_stats=1
            "-artifact_prefix=${WORK}/artifacts/"
            "${WORK}/corpus"
    RESULT_VARIABLE _rc)

if(NOT _rc EQUAL 0)
    file(GLOB _found "${WORK}/artifacts/*")
    message(FATAL_ERROR "fuzzer ${FUZZER} failed (exit ${_rc}); reproducer(s): ${_found}\n"
                        "Re-run one with: ${FUZZER} <file>")
endif()
