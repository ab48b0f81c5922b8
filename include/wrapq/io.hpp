// wrapq/io.hpp: file formats and checkpoint binding: a strict JSON parser,
// safetensors reading and writing (POSIX only), Hugging Face checkpoint
// directories, and load_parameters().
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/io/half_float.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/json_location.hpp"
#include "wrapq/io/mapped_file.hpp"
#include "wrapq/io/atomic_write.hpp"
#include "wrapq/io/bind.hpp"
#include "wrapq/io/safetensors.hpp"
#include "wrapq/io/safetensors_checkpoint.hpp"
#include "wrapq/io/safetensors_source.hpp"
