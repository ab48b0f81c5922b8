# Installs wrapq from BUILD_DIR into a fresh prefix under WORK_DIR, then
# configures, builds and runs the consumer project against that prefix only.
# flatc first writes the Circle model that the project embeds from
# MODEL_JSON, using the schema CIRCLE_SCHEMA.
# Run by CTest in script mode; any failing step fails the test.

foreach(var BUILD_DIR WORK_DIR SOURCE_DIR MODEL_JSON FLATC CIRCLE_SCHEMA)
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
foreach(installed IN ITEMS
        share/cmake/wrapq/wrapqConfig.cmake
        share/cmake/wrapq/wrapqConfigVersion.cmake
        share/cmake/wrapq/wrapqImageTargets.cmake
        share/cmake/wrapq/WrapqCircleModel.cmake
        share/cmake/wrapq/WrapqCircleModelSource.cmake
        include/wrapq.hpp)
    if(NOT EXISTS "${prefix}/${installed}")
        message(FATAL_ERROR "the install tree under ${prefix} lacks ${installed}")
    endif()
endforeach()

if(NOT FLATC OR NOT EXISTS "${CIRCLE_SCHEMA}")
    message(FATAL_ERROR "the consumer's Circle model needs flatc ('${FLATC}') and the Circle schema "
        "('${CIRCLE_SCHEMA}'); install flatbuffers-compiler and set WRAPQ_CIRCLE_SCHEMA to circle_schema.fbs")
endif()
# flatc names its output after the JSON file, with the schema's file_extension.
run_step("write the Circle model" "${FLATC}" -b -o "${WORK_DIR}" "${CIRCLE_SCHEMA}" "${MODEL_JSON}")
cmake_path(GET MODEL_JSON STEM model_name)
set(model "${WORK_DIR}/${model_name}.circle")

run_step("configure consumer" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}" "-DWRAPQ_CONSUMER_MODEL=${model}")
run_step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run_step("run consumer" "${WORK_DIR}/build/wrapq_consumer")
run_step("run consumer_model" "${WORK_DIR}/build/wrapq_consumer_model")
run_step("run consumer_image" "${WORK_DIR}/build/wrapq_consumer_image")
