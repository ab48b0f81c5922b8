# Embeds a Circle model file in a static library, for firmware that links the
# model's bytes instead of reading a file at run time.
#
# wrapq_add_circle_model(<target>
#     OUTPUT <file.circle>
#     [COMMAND <executable-or-target> [args...]]
#     [SYMBOL <c_identifier>]
#     [EMBED_MODE auto|incbin|hex]
#     [DEPENDS <files-or-targets>...]
#     [WORKING_DIRECTORY <dir>])
#
# OUTPUT      the Circle file to embed. A relative path is taken relative to
#             CMAKE_CURRENT_BINARY_DIR.
# COMMAND     a command that writes OUTPUT at build time. A first word that
#             names an executable target runs that target's file, and the
#             command reruns when the target is rebuilt. Without COMMAND,
#             OUTPUT must exist when CMake configures, or be the OUTPUT of an
#             add_custom_command() in the same directory.
# SYMBOL      prefix of the C names, default <target> made a C identifier
#             (string(MAKE_C_IDENTIFIER)).
# EMBED_MODE  incbin: the assembler copies the file with GNU .incbin,
#             which is fast for files of tens of MB and needs GCC or Clang
#             targeting ELF. hex: the build writes the bytes as a C array,
#             which any C11 or C++11 compiler accepts but is slow for large
#             files. auto (the default) picks incbin where it works. The
#             value is case-insensitive.
# DEPENDS     files or targets whose change reruns COMMAND and re-embeds.
# WORKING_DIRECTORY  directory that COMMAND runs in.
#
# <target> is a STATIC library. Linking it puts <symbol>.h on the include
# path, which declares, with C linkage for C and C++:
#   extern const unsigned char <symbol>_data[];  // the file, 16-byte aligned, read-only
#   extern const size_t <symbol>_size;           // its size in bytes
# At build time the file is checked before it is embedded: it must exist,
# hold at least 8 bytes and carry the FlatBuffers file identifier "CIR0"
# (Circle) or "TFL3" (TFLite) at bytes 4..7.
#
# Example:
#   wrapq_add_circle_model(lm_head_model
#       OUTPUT model/lm_head_prefill.circle
#       COMMAND gemma4_export --out ${CMAKE_CURRENT_BINARY_DIR}/model --batches 1)
#   add_executable(firmware main.c)
#   target_link_libraries(firmware PRIVATE lm_head_model)
#   // main.c: #include "lm_head_model.h", then use lm_head_model_data and lm_head_model_size

include_guard(GLOBAL)

function(wrapq_add_circle_model target)
    set(where "wrapq_add_circle_model(${target})")
    cmake_parse_arguments(PARSE_ARGV 1 arg
        "" "OUTPUT;SYMBOL;EMBED_MODE;WORKING_DIRECTORY" "COMMAND;DEPENDS")

    # Argument checks come first and need no enabled language, so that they
    # report mistakes before anything else can fail.
    if(arg_UNPARSED_ARGUMENTS)
        list(JOIN arg_UNPARSED_ARGUMENTS " " unknown)
        message(FATAL_ERROR "${where}: unknown arguments '${unknown}'; "
            "the keywords are OUTPUT, COMMAND, SYMBOL, EMBED_MODE, DEPENDS and WORKING_DIRECTORY")
    endif()
    foreach(keyword IN LISTS arg_KEYWORDS_MISSING_VALUES)
        message(FATAL_ERROR "${where}: ${keyword} was given without a value")
    endforeach()
    if(TARGET "${target}")
        message(FATAL_ERROR "${where}: a target named '${target}' already exists; pick another target name")
    endif()
    if(NOT DEFINED arg_OUTPUT)
        message(FATAL_ERROR "${where}: OUTPUT is missing; pass OUTPUT <file.circle>, the Circle file to embed")
    endif()

    if(DEFINED arg_SYMBOL)
        set(symbol "${arg_SYMBOL}")
    else()
        string(MAKE_C_IDENTIFIER "${target}" symbol)
    endif()
    if(NOT symbol MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
        message(FATAL_ERROR "${where}: SYMBOL '${symbol}' is not a C identifier; "
            "use letters, digits and underscores, not starting with a digit")
    endif()
    # The standard C headers of C17 and C23: a model header with one of these
    # names would shadow the system header in every target that links the model.
    set(standard_headers
        assert complex ctype errno fenv float inttypes iso646 limits locale math
        setjmp signal stdalign stdarg stdatomic stdbit stdbool stdckdint stddef
        stdint stdio stdlib stdnoreturn string tgmath threads time uchar wchar wctype)
    if(symbol IN_LIST standard_headers)
        message(FATAL_ERROR "${where}: SYMBOL '${symbol}' would generate ${symbol}.h, "
            "which shadows the standard C header <${symbol}.h>; pass another SYMBOL")
    endif()

    if(DEFINED arg_EMBED_MODE)
        string(TOLOWER "${arg_EMBED_MODE}" mode)
    else()
        set(mode auto)
    endif()
    if(NOT mode MATCHES "^(auto|incbin|hex)$")
        message(FATAL_ERROR "${where}: EMBED_MODE '${arg_EMBED_MODE}' is invalid; use auto, incbin or hex")
    endif()

    cmake_path(ABSOLUTE_PATH arg_OUTPUT BASE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}" NORMALIZE
        OUTPUT_VARIABLE model)
    if(model MATCHES "[\n\r]")
        message(FATAL_ERROR "${where}: OUTPUT '${arg_OUTPUT}' contains a line break; rename the file")
    endif()
    if(IS_DIRECTORY "${model}")
        message(FATAL_ERROR "${where}: OUTPUT ${model} is a directory; pass the path of the .circle file")
    endif()

    if(DEFINED arg_COMMAND)
        _wrapq_circle_model_command_dependencies("${where}" "${arg_COMMAND}" command_dependencies)
    else()
        if(DEFINED arg_WORKING_DIRECTORY)
            message(FATAL_ERROR "${where}: WORKING_DIRECTORY applies only to COMMAND, and no COMMAND was given")
        endif()
        get_property(generated SOURCE "${model}" PROPERTY GENERATED)
        if(NOT EXISTS "${model}" AND NOT generated)
            set(hint "")
            cmake_path(IS_RELATIVE arg_OUTPUT output_is_relative)
            if(output_is_relative AND EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${arg_OUTPUT}")
                string(CONCAT hint " A relative OUTPUT is taken relative to the build directory. "
                    "For the file in the source tree, pass \${CMAKE_CURRENT_SOURCE_DIR}/${arg_OUTPUT}.")
            endif()
            message(FATAL_ERROR "${where}: OUTPUT ${model} does not exist and no COMMAND was given to produce it. "
                "Pass an existing file, or add COMMAND <program> [args...] that writes it at build time.${hint}")
        endif()
    endif()

    # The generated source is C where C is enabled and C++ otherwise; its
    # text is valid as both.
    get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
    if("C" IN_LIST languages)
        set(language C)
        set(extension c)
    elseif("CXX" IN_LIST languages)
        set(language CXX)
        set(extension cpp)
    else()
        message(FATAL_ERROR "${where}: neither C nor CXX is enabled; "
            "add C to project(... LANGUAGES ...) or call enable_language(C) first")
    endif()

    set(incbin_works OFF)
    if(CMAKE_${language}_COMPILER_ID MATCHES "^(GNU|Clang)$" AND CMAKE_EXECUTABLE_FORMAT STREQUAL "ELF")
        set(incbin_works ON)
    endif()
    if(mode STREQUAL "auto")
        if(incbin_works)
            set(mode incbin)
        else()
            set(mode hex)
        endif()
    elseif(mode STREQUAL "incbin" AND NOT incbin_works)
        message(FATAL_ERROR "${where}: EMBED_MODE incbin needs GCC or Clang targeting ELF, but the "
            "${language} compiler is '${CMAKE_${language}_COMPILER_ID}' producing '${CMAKE_EXECUTABLE_FORMAT}'; "
            "use EMBED_MODE hex")
    endif()

    # Each target gets its own directory, so two targets may use one SYMBOL
    # (in different executables) and a model's include directory exposes
    # only its own header.
    set(generated_dir "${CMAKE_CURRENT_BINARY_DIR}/wrapq_circle_models/${target}")
    set(header "${generated_dir}/${symbol}.h")
    set(source "${generated_dir}/${symbol}.${extension}")
    string(REPLACE "*/" "* /" model_in_comment "${model}")
    _wrapq_write_circle_model_header("${header}" "${symbol}" "${target}" "${model_in_comment}")

    if(DEFINED arg_COMMAND)
        cmake_path(GET model PARENT_PATH model_dir)
        set(working_directory "")
        if(DEFINED arg_WORKING_DIRECTORY)
            # Makefile and Ninja builds cd into the directory before the
            # first command, so it has to exist before the build starts.
            cmake_path(ABSOLUTE_PATH arg_WORKING_DIRECTORY BASE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}"
                NORMALIZE OUTPUT_VARIABLE working_directory_path)
            file(MAKE_DIRECTORY "${working_directory_path}")
            set(working_directory WORKING_DIRECTORY "${working_directory_path}")
        endif()
        # The directory is created first because many tools do not create
        # the parent directory of their output file.
        add_custom_command(OUTPUT "${model}"
            COMMAND "${CMAKE_COMMAND}" -E make_directory "${model_dir}"
            COMMAND ${arg_COMMAND}
            DEPENDS ${command_dependencies} ${arg_DEPENDS}
            ${working_directory}
            COMMENT "Producing ${model} for ${target}"
            VERBATIM)
        set(embed_dependencies "${model}")
    else()
        set(embed_dependencies "${model}" ${arg_DEPENDS})
    endif()

    set(source_script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/WrapqCircleModelSource.cmake")
    add_custom_command(OUTPUT "${source}"
        COMMAND "${CMAKE_COMMAND}"
            -D "MODEL=${model}"
            -D "SOURCE=${source}"
            -D "SYMBOL=${symbol}"
            -D "MODE=${mode}"
            -D "TARGET=${target}"
            -P "${source_script}"
        DEPENDS ${embed_dependencies} "${source_script}"
        COMMENT "Embedding ${model} in ${target} (${mode})"
        VERBATIM)

    add_library(${target} STATIC "${source}" "${header}")
    target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${generated_dir}>")
    set_target_properties(${target} PROPERTIES
        LINKER_LANGUAGE ${language}
        PUBLIC_HEADER "${header}")
    if(mode STREQUAL "incbin")
        # The compiler sees only the file name in the .incbin directive, so
        # the build system must be told that the object depends on the file.
        set_source_files_properties("${source}" PROPERTIES OBJECT_DEPENDS "${model}")
        # An LTO object does not list the symbols that top-level asm defines,
        # so the linker would not find the model. -fno-lto also overrides a
        # -flto in CMAKE_<LANG>_FLAGS.
        set_target_properties(${target} PROPERTIES INTERPROCEDURAL_OPTIMIZATION OFF)
        target_compile_options(${target} PRIVATE -fno-lto)
    endif()
endfunction()

# Sets `out_var` to the files and targets that COMMAND's first word implies:
# an executable target (so the command reruns after the target is rebuilt)
# or an existing file such as a script.
function(_wrapq_circle_model_command_dependencies where command out_var)
    list(GET command 0 program)
    set(dependencies "")
    if(TARGET "${program}")
        get_target_property(type "${program}" TYPE)
        if(NOT type STREQUAL "EXECUTABLE")
            message(FATAL_ERROR "${where}: COMMAND starts with target '${program}' of type ${type}, "
                "not an executable; pass an executable target or a program path")
        endif()
        get_target_property(imported "${program}" IMPORTED)
        get_target_property(emulator "${program}" CROSSCOMPILING_EMULATOR)
        if(CMAKE_CROSSCOMPILING AND NOT imported AND NOT emulator)
            message(FATAL_ERROR "${where}: COMMAND starts with target '${program}', which this cross build "
                "compiles for ${CMAKE_SYSTEM_NAME}/${CMAKE_SYSTEM_PROCESSOR}, so it cannot run on the build host. "
                "Pass the path of a host build of the program (for example from find_program()) "
                "or an imported executable target")
        endif()
        list(APPEND dependencies "${program}")
    elseif(IS_ABSOLUTE "${program}" AND EXISTS "${program}" AND NOT IS_DIRECTORY "${program}")
        list(APPEND dependencies "${program}")
    endif()
    set(${out_var} "${dependencies}" PARENT_SCOPE)
endfunction()

# Writes the model's C header at configure time. file(CONFIGURE) leaves an
# unchanged header untouched, so reconfiguring does not recompile its users.
function(_wrapq_write_circle_model_header header symbol target model)
    file(CONFIGURE OUTPUT "${header}" @ONLY CONTENT [==[
/* Generated by wrapq_add_circle_model(@target@) from
 * @model@
 * Do not edit: the build overwrites this file. */
#ifndef WRAPQ_CIRCLE_MODEL_@symbol@_H
#define WRAPQ_CIRCLE_MODEL_@symbol@_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The bytes of the Circle file, in read-only memory and 16-byte aligned.
 * The schema aligns Buffer.data to 16 bytes relative to the start of the
 * file (force_align: 16), so weights are aligned only if the file is. */
extern const unsigned char @symbol@_data[];

/* The number of bytes at @symbol@_data, equal to the size of the file. */
extern const size_t @symbol@_size;

#ifdef __cplusplus
}
#endif

#endif
]==])
endfunction()
