// wrapq/io/safetensors_checkpoint.hpp: a Hugging Face checkpoint of one or several safetensors files as a TensorSource.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/io/bind.hpp"
#include "wrapq/io/json.hpp"
#include "wrapq/io/mapped_file.hpp"
#include "wrapq/io/safetensors_dtype.hpp"
#include "wrapq/io/safetensors_format.hpp"
#include "wrapq/io/safetensors_reader.hpp"
#include "wrapq/module/name_match.hpp"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace wrapq::io {

/// File name of the index of a sharded Hugging Face checkpoint.
inline constexpr std::string_view safetensors_index_name = "model.safetensors.index.json";

/// File name of an unsharded Hugging Face checkpoint.
inline constexpr std::string_view safetensors_single_name = "model.safetensors";

/// A Hugging Face checkpoint as one TensorSource: a single safetensors file,
/// or the shards that a model.safetensors.index.json lists. Every shard is
/// memory-mapped by safetensors_file, so opening costs no tensor reads.
///
/// The index is the authority on which tensors exist. open() rejects a
/// checkpoint whose index and shards disagree in any way: a tensor listed
/// but absent from its shard, a tensor present in two shards, or a shard
/// tensor the index does not list. Hugging Face transformers loads every
/// tensor of each listed shard, so it would accept the last case silently.
/// wrapq rejects it because such a directory usually mixes files of two
/// saves. The index's "metadata" (such as total_size) is not read.
///
/// Messages about one tensor start with the path of the shard that contains
/// it, and label(name) returns that path for load_parameters(). The object is
/// movable but not copyable, and const member functions may run concurrently.
///
/// Example:
/// @code
///   const auto checkpoint = io::safetensors_checkpoint::open("gemma-4-E2B-it");   // a directory
///   gemma4::load_checkpoint(model, checkpoint);
///   checkpoint.label("model.language_model.norm.weight")   // ".../model-00002-of-00002.safetensors"
/// @endcode
class safetensors_checkpoint {
public:
    /// Opens the checkpoint at `path`, which is one of:
    /// - a directory with model.safetensors.index.json, whose "weight_map"
    ///   maps each tensor name to a shard file in the same directory;
    /// - a directory with model.safetensors;
    /// - the path of an index file (any name ending in ".json");
    /// - the path of one safetensors file (any other regular file).
    ///
    /// A directory with both model.safetensors and the index is rejected,
    /// because the two may come from different saves. Hugging Face
    /// transformers would load model.safetensors and ignore the index; pass
    /// the path of the file you mean instead.
    ///
    /// Throws io_error naming the path when it does not exist, a directory
    /// has neither file (the message lists the .safetensors files it has), a
    /// listed shard is missing, or a file cannot be read.
    ///
    /// Throws format_error naming the index and the value for an index that
    /// is not valid JSON or lacks a "weight_map" object. The same holds for a
    /// weight_map value that is not a plain file name: not a string, empty,
    /// absolute, or containing "/" or "..". The disagreements between index
    /// and shards listed above are format errors too. Shard contents are
    /// validated as safetensors_file::open() does.
    static safetensors_checkpoint open(const std::filesystem::path& path) {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::file_status status = fs::status(path, ec);
        if (!fs::exists(status)) {
            const bool absent = !ec || ec == std::errc::no_such_file_or_directory;
            throw io_error(path.string() + ": " + (absent ? "no such file or directory" : "cannot read the path: " + ec.message()) +
                           "; pass a checkpoint directory, its " + std::string(safetensors_index_name) +
                           " or a .safetensors file");
        }
        safetensors_checkpoint checkpoint;
        checkpoint.path_ = path;
        if (fs::is_directory(status)) {
            const fs::path index = path / safetensors_index_name;
            const fs::path single = path / safetensors_single_name;
            const bool has_index = fs::exists(index, ec);
            const bool has_single = !ec && fs::exists(single, ec);
            if (ec) throw io_error(path.string() + ": cannot read the directory: " + ec.message());
            if (has_index && has_single) {
                throw io_error(path.string() + ": contains both " + std::string(safetensors_index_name) + " and " +
                               std::string(safetensors_single_name) +
                               ", which may come from different saves; pass the path of the one to load, or remove the other");
            }
            if (has_index) {
                checkpoint.open_sharded(index);
            } else if (has_single) {
                checkpoint.open_single(single);
            } else {
                throw_no_checkpoint_in(path);
            }
        } else if (path.extension() == ".json") {
            checkpoint.open_sharded(path);
        } else {
            checkpoint.open_single(path);
        }
        return checkpoint;
    }

    /// The path that open() received.
    const std::filesystem::path& path() const noexcept { return path_; }

    /// The index file, or an empty path for a single-file checkpoint.
    const std::filesystem::path& index_path() const noexcept { return index_path_; }

    bool is_sharded() const noexcept { return !index_path_.empty(); }

    /// The opened safetensors files: the shards in the order in which the
    /// index first names them, or the single file.
    const std::vector<safetensors_file>& shards() const noexcept { return shards_; }

    /// The source of all tensors, for messages: the index path of a sharded
    /// checkpoint, else the safetensors file path.
    std::string label() const { return is_sharded() ? index_path_.string() : shards_.front().path().string(); }

    /// Path of the shard that contains tensor `name`, for messages about that
    /// tensor. Throws invalid_argument as info() does for an unknown name.
    std::string label(const std::string& name) const { return shard_of(name).path().string(); }

    /// Tensor names: the order of the index's weight_map, or of the single file's header.
    std::vector<std::string> names() const { return names_; }

    bool contains(std::string_view name) const { return location_.find(name) != location_.end(); }

    /// Returns the shard that contains tensor `name`. Throws invalid_argument
    /// naming the checkpoint and up to three nearest names when there is no such tensor.
    const safetensors_file& shard_of(std::string_view name) const {
        const auto found = location_.find(name);
        if (found == location_.end()) throw_not_found(name);
        return shards_[found->second];
    }

    /// The header entry of tensor `name` (dtype, shape, byte range in its shard).
    const tensor_info& info(std::string_view name) const { return shard_of(name).info(name); }

    std::vector<std::size_t> shape(const std::string& name) const { return info(name).shape; }

    /// Reads tensor `name` from its shard and converts F32, F16 or BF16 to float32.
    tensor load(const std::string& name) const { return shard_of(name).load(name); }

    /// Lends the words of BF16 tensor `name` from its shard (see
    /// safetensors_file::borrow_bf16); nothing for other dtypes.
    std::optional<borrowed_bf16> borrow_bf16(const std::string& name) const { return shard_of(name).borrow_bf16(name); }

    /// Throws value_error naming the tensor, its dtype and its shard unless
    /// load() can convert it, so load_parameters() rejects the checkpoint
    /// before it assigns anything.
    void check_loadable(const std::string& name) const {
        const safetensors_file& shard = shard_of(name);
        const tensor_info& entry = shard.info(name);
        if (!is_float_loadable(entry.dtype)) {
            throw value_error(shard.path().string() + ": tensor '" + name + "' is stored as " +
                              std::string(to_string(entry.dtype)) +
                              ", which wrapq cannot load as weights; convert the checkpoint to F32, F16 or BF16");
        }
    }

private:
    safetensors_checkpoint() = default;

    [[noreturn]] static void throw_no_checkpoint_in(const std::filesystem::path& directory) {
        std::vector<std::string> found;
        std::error_code ec;
        for (std::filesystem::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->path().extension() == ".safetensors") found.push_back(it->path().filename().string());
        }
        std::sort(found.begin(), found.end());
        std::string message = directory.string() + ": contains neither " + std::string(safetensors_index_name) +
                              " nor " + std::string(safetensors_single_name);
        if (found.empty()) {
            message += ", and no .safetensors file; pass the directory of a Hugging Face checkpoint";
        } else {
            constexpr std::size_t listed = 10;
            message += "; its .safetensors files are:";
            for (std::size_t i = 0; i < std::min(found.size(), listed); ++i) message += " " + found[i];
            if (found.size() > listed) message += " (and " + std::to_string(found.size() - listed) + " more)";
            message += ". Pass the path of one of them, or restore the index that lists the shards";
        }
        throw io_error(message);
    }

    void open_single(const std::filesystem::path& file) {
        shards_.push_back(safetensors_file::open(file));
        names_ = shards_.front().names();
        for (const std::string& name : names_) location_.emplace(name, 0);
    }

    void open_sharded(const std::filesystem::path& index) {
        index_path_ = index;
        const std::string where = index.string() + ": ";
        const mapped_file mapping = mapped_file::open(index);
        const std::span<const std::byte> bytes = mapping.bytes();
        json_parse_options options;
        options.source = index.string();
        const json_value root = parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), options);

        const json_value* weight_map = root.is_object() ? root.find("weight_map") : nullptr;
        if (weight_map == nullptr) {
            throw format_error(where + "has no \"weight_map\" object, so it is not a safetensors index; pass the directory "
                                       "of a Hugging Face checkpoint or a file named " +
                               std::string(safetensors_index_name));
        }
        if (!weight_map->is_object()) {
            throw format_error(where + "\"weight_map\" at byte " + std::to_string(weight_map->offset()) + " is a JSON " +
                               std::string(weight_map->type_name()) +
                               ", but it must be an object that maps tensor names to shard file names");
        }
        if (weight_map->as_object().empty()) {
            throw format_error(where + "\"weight_map\" lists no tensors; the index is incomplete");
        }

        // Shards are opened in the order in which the index first names them.
        std::map<std::string, std::size_t, std::less<>> shard_numbers;
        std::vector<std::pair<std::string, std::size_t>> listed;  // (tensor, shard) in weight_map order
        for (const auto& [name, value] : weight_map->as_object()) {
            const std::string shard = checked_shard_name(where, name, value);
            auto [position, added] = shard_numbers.emplace(shard, shards_.size());
            if (added) shards_.push_back(open_listed_shard(index, shard, name));
            listed.emplace_back(name, position->second);
        }
        match_index_to_shards(listed);
    }

    /// Returns the shard file name of a weight_map entry, or throws
    /// format_error unless it is a plain file name beside the index.
    static std::string checked_shard_name(const std::string& where, const std::string& tensor_name, const json_value& value) {
        const std::string subject = where + "\"weight_map\" entry for tensor " + detail::quote_name(tensor_name);
        if (!value.is_string()) {
            throw format_error(subject + " at byte " + std::to_string(value.offset()) + " is a JSON " +
                               std::string(value.type_name()) + ", but it must be the file name of a shard");
        }
        const std::string& shard = value.as_string();
        if (shard.empty() || shard.find('/') != std::string::npos || shard.find("..") != std::string::npos ||
            shard.find('\0') != std::string::npos) {
            throw format_error(subject + " is " + detail::quote_name(shard) +
                               ", which is not a plain file name; shards must sit beside the index, so a shard name "
                               "must not be empty, absolute, or contain \"/\" or \"..\"");
        }
        return shard;
    }

    static safetensors_file open_listed_shard(const std::filesystem::path& index, const std::string& shard,
                                              const std::string& first_tensor) {
        const std::filesystem::path file = index.parent_path() / shard;
        std::error_code ec;
        if (!std::filesystem::exists(file, ec)) {
            throw io_error(index.string() + ": shard " + file.string() + " is missing (the index lists tensor " +
                           detail::quote_name(first_tensor) + " in it); download the missing shard or pass a complete checkpoint");
        }
        return safetensors_file::open(file);
    }

    /// Checks that the index and the shards contain the same tensors, and
    /// fills location_ and names_ from the index.
    void match_index_to_shards(const std::vector<std::pair<std::string, std::size_t>>& listed) {
        // Which shards actually contain each tensor, so that a duplicate is
        // reported with both files before any index disagreement.
        std::map<std::string, std::size_t, std::less<>> stored_in;
        for (std::size_t s = 0; s < shards_.size(); ++s) {
            for (const tensor_info& entry : shards_[s].tensors()) {
                const auto [position, added] = stored_in.emplace(entry.name, s);
                if (!added) {
                    throw format_error(label() + ": tensor " + detail::quote_name(entry.name) + " is stored in both " +
                                       shards_[position->second].path().string() + " and " + shards_[s].path().string() +
                                       "; each tensor must be in exactly one shard, so the checkpoint mixes files of "
                                       "different saves");
                }
            }
        }

        for (const auto& [name, s] : listed) {
            if (!shards_[s].contains(name)) {
                const auto elsewhere = stored_in.find(name);
                throw format_error(label() + ": the index lists tensor " + detail::quote_name(name) + " in " +
                                   shards_[s].path().string() + ", but that shard does not contain it" +
                                   (elsewhere != stored_in.end() ? " (it is in " + shards_[elsewhere->second].path().string() + ")"
                                                                 : std::string()) +
                                   "; the index and the shards come from different saves");
            }
            location_.emplace(name, s);
            names_.push_back(name);
        }

        for (const auto& [name, s] : stored_in) {
            if (!location_.count(name)) {
                throw format_error(label() + ": shard " + shards_[s].path().string() + " contains tensor " +
                                   detail::quote_name(name) +
                                   ", which the index does not list; the index is the authority on the checkpoint's "
                                   "tensors, so regenerate it or remove the tensor");
            }
        }
    }

    [[noreturn]] void throw_not_found(std::string_view name) const {
        std::string message = label() + ": no tensor named " + detail::quote_name(name);
        if (names_.empty()) {
            message += "; the checkpoint contains no tensors";
        } else {
            message += "; nearest names:";
            const std::vector<std::string> nearest = nearest_names(name, names_, 3);
            for (std::size_t i = 0; i < nearest.size(); ++i) message += (i > 0 ? ", " : " ") + detail::quote_name(nearest[i]);
        }
        throw invalid_argument(message);
    }

    std::filesystem::path path_;
    std::filesystem::path index_path_;
    std::vector<safetensors_file> shards_;
    std::vector<std::string> names_;
    /// Tensor name -> index into shards_.
    std::map<std::string, std::size_t, std::less<>> location_;
};

static_assert(TensorSource<safetensors_checkpoint>);

}  // namespace wrapq::io
