// wrapq/io.hpp: file formats: a strict JSON parser and safetensors reading and writing (POSIX only).
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/io/half_float.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/mapped_file.hpp"
#include "wrapq/io/safetensors.hpp"
