# Runs firmware_model_check with the size of the model file as its expected
# size. The file exists only after the build, so CTest cannot pass the size
# on the command line directly.
#
#   cmake -D PROGRAM=<exe> -D MODEL=<file.circle> [-D SIZE_OFFSET=<n>]
#         -P run_with_model_size.cmake
#
# With SIZE_OFFSET the expected size is off by that many bytes, and the test
# passes only when the program reports the size mismatch and exits with 1.

foreach(var PROGRAM MODEL)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run_with_model_size.cmake needs -D ${var}=...")
    endif()
endforeach()
if(NOT EXISTS "${MODEL}")
    message(FATAL_ERROR "${MODEL} does not exist; build the project before running the tests")
endif()

file(SIZE "${MODEL}" expected_size)
if(DEFINED SIZE_OFFSET)
    math(EXPR expected_size "${expected_size} + ${SIZE_OFFSET}")
endif()

execute_process(COMMAND "${PROGRAM}" ${expected_size}
    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")

if(NOT DEFINED SIZE_OFFSET)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "${PROGRAM} ${expected_size} failed with status ${status}")
    endif()
elseif(NOT status EQUAL 1 OR NOT out MATCHES "FAIL: size [0-9]+ differs from the expected ${expected_size} bytes")
    message(FATAL_ERROR "${PROGRAM} ${expected_size} should have reported the wrong size and exited "
        "with 1, but exited with ${status}")
endif()
