# Configures the scratch project in errors/ with one invalid call and checks
# that configuring fails with a message matching EXPECTED. CMake wraps long
# messages, so runs of whitespace are collapsed before matching.
#
#   cmake -D MODULE=<WrapqCircleModel.cmake> -D PROJECT_DIR=<errors/> -D WORK_DIR=<dir>
#         -D CASE=<name> -D EXPECTED=<regex> -P run_error_case.cmake

foreach(var MODULE PROJECT_DIR WORK_DIR CASE EXPECTED)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run_error_case.cmake needs -D ${var}=...")
    endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(
    COMMAND "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${WORK_DIR}"
        "-DWRAPQ_CIRCLE_MODEL_MODULE=${MODULE}" "-DCASE=${CASE}"
    RESULT_VARIABLE status
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err)

string(REGEX REPLACE "[ \t\r\n]+" " " messages "${out} ${err}")
if(status EQUAL 0)
    message(FATAL_ERROR "case ${CASE}: configuring succeeded, expected an error matching '${EXPECTED}'.\n${out}\n${err}")
endif()
if(NOT messages MATCHES "${EXPECTED}")
    message(FATAL_ERROR "case ${CASE}: the error does not match '${EXPECTED}':\n${err}")
endif()
message(STATUS "case ${CASE}: failed as expected:\n${err}")
