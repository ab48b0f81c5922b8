# Builds the scratch project in embed/ with one EMBED_MODE and checks that
# each embedded model equals its file byte for byte, that editing a model's
# input rebuilds the embedding, and that a file without the Circle file
# identifier fails the build with a message naming the file.
#
#   cmake -D MODULE=<WrapqCircleModel.cmake> -D PROJECT_DIR=<embed/> -D WORK_DIR=<dir>
#         -D MODE=incbin|hex [-D GENERATOR=<name>] -P run_embed_test.cmake

foreach(var MODULE PROJECT_DIR WORK_DIR MODE)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run_embed_test.cmake needs -D ${var}=...")
    endif()
endforeach()

set(build "${WORK_DIR}/build")
set(input_text "${WORK_DIR}/input.txt")
set(plain_model "${WORK_DIR}/plain.circle")

function(run_step description)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "${description} failed (${status}):\n${out}\n${err}")
    endif()
    message(STATUS "${description}: ok\n${out}")
endfunction()

# Builds the project, checks that COMMAND wrote the current input text
# after write_model's 264-byte header (root offset, "CIR0", bytes 0 to 255),
# dumps the embedded models and compares each dump with the file it was
# embedded from.
function(build_and_compare round)
    run_step("build (${round})" "${CMAKE_COMMAND}" --build "${build}")
    file(READ "${input_text}" input)
    file(READ "${build}/generated/model.circle" generated_text OFFSET 264)
    if(NOT generated_text STREQUAL input)
        message(FATAL_ERROR "${round}: ${build}/generated/model.circle ends in '${generated_text}', "
            "expected the input text '${input}': COMMAND did not rerun after its DEPENDS changed")
    endif()
    set(dumps "${WORK_DIR}/generated.dump" "${WORK_DIR}/plain.dump" "${WORK_DIR}/copied.dump")
    file(REMOVE ${dumps})
    run_step("dump_models (${round})" "${build}/dump_models" ${dumps})
    foreach(pair IN ITEMS "generated.dump|${build}/generated/model.circle"
                          "plain.dump|${plain_model}"
                          "copied.dump|${build}/copied.circle")
        string(REPLACE "|" ";" pair "${pair}")
        list(GET pair 0 dump)
        list(GET pair 1 expected)
        execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${WORK_DIR}/${dump}" "${expected}"
            RESULT_VARIABLE different)
        if(different)
            message(FATAL_ERROR "${round}: ${dump} differs from ${expected}: "
                "the embedded bytes are not the file's current content")
        endif()
    endforeach()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(WRITE "${input_text}" "first input")
file(WRITE "${plain_model}" "abcdCIR0 plain model, first version")

set(generator_option "")
if(DEFINED GENERATOR)
    set(generator_option -G "${GENERATOR}")
endif()
# Link-time optimization is on because it hides symbols that top-level asm
# defines, so the test also covers the model library opting out of it.
run_step("configure" "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${build}" ${generator_option}
    -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON
    "-DWRAPQ_CIRCLE_MODEL_MODULE=${MODULE}" "-DMODE=${MODE}"
    "-DINPUT_TEXT=${input_text}" "-DPLAIN_MODEL=${plain_model}")
build_and_compare("first build")

# The plain model keeps its size, so only a content-based rebuild passes.
file(WRITE "${input_text}" "second, longer input")
file(WRITE "${plain_model}" "abcdCIR0 plain model, later version")
build_and_compare("after editing the inputs")

file(WRITE "${plain_model}" "not a Circle model")
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${build}"
    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REGEX REPLACE "[ \t\r\n]+" " " messages "${out} ${err}")
if(status EQUAL 0)
    message(FATAL_ERROR "the build embedded ${plain_model}, which lacks the Circle file identifier")
endif()
string(REGEX REPLACE "([][+.*?()^$|\\\\])" "\\\\\\1" plain_model_regex "${plain_model}")
if(NOT messages MATCHES "${plain_model_regex} has the bytes 61204369 \\(hex\\) at offsets 4 to 7")
    message(FATAL_ERROR "the build failed, but not with the file identifier error naming ${plain_model}:\n${out}\n${err}")
endif()
message(STATUS "a file without the Circle file identifier failed the build as expected")
