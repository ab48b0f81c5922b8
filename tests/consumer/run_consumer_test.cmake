# Installs wrapq from BUILD_DIR into a fresh prefix under WORK_DIR, then
# configures, builds and runs the consumer project against that prefix only.
# Run by CTest in script mode; any failing step fails the test.

foreach(var BUILD_DIR WORK_DIR SOURCE_DIR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run_consumer_test.cmake needs -D${var}=...")
    endif()
endforeach()

function(run_step description)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "${description} failed (${status}):\n${out}\n${err}")
    endif()
    message(STATUS "${description}: ok\n${out}")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

run_step("install wrapq" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/share/cmake/wrapq/wrapqConfig.cmake" OR
   NOT EXISTS "${prefix}/share/cmake/wrapq/wrapqConfigVersion.cmake" OR
   NOT EXISTS "${prefix}/include/wrapq.hpp")
    message(FATAL_ERROR "the install tree under ${prefix} lacks the package config or the headers")
endif()

run_step("configure consumer" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}")
run_step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run_step("run consumer" "${WORK_DIR}/build/wrapq_consumer")
