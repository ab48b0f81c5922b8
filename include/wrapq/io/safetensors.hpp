// wrapq/io/safetensors.hpp: reading and writing safetensors files.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/io/safetensors_dtype.hpp"
#include "wrapq/io/safetensors_format.hpp"
#include "wrapq/io/safetensors_reader.hpp"
#include "wrapq/io/safetensors_writer.hpp"
