// wrapq/module/site_errors.hpp: float-versus-quantized error at every site and module output.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/site_recorder.hpp"
#include "wrapq/module/tensor_spill.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace wrapq {

/// Error statistics accumulated over many tensors: the PEIR, mean and max
/// absolute difference of the spec's metrics, taken over the union of all
/// elements added so far.
struct running_error {
    float max_abs_diff = 0.0f;
    double sum_abs_diff = 0.0;
    std::size_t count = 0;
    float base_min = std::numeric_limits<float>::infinity();
    float base_max = -std::numeric_limits<float>::infinity();
    bool saw_nan = false;

    /// Adds the elements of `base` (float reference) and `target` (quantized).
    /// Precondition: equal sizes.
    void add(const tensor& base, const tensor& target) {
        const float* b = base.data();
        const float* t = target.data();
        for (std::size_t i = 0; i < base.size(); ++i) {
            const float diff = std::fabs(b[i] - t[i]);
            if (std::isnan(diff)) {
                saw_nan = true;
                continue;
            }
            max_abs_diff = std::max(max_abs_diff, diff);
            sum_abs_diff += diff;
            base_min = std::min(base_min, b[i]);
            base_max = std::max(base_max, b[i]);
        }
        count += base.size();
    }

    double mean_abs_diff() const {
        if (saw_nan || count == 0) return std::numeric_limits<double>::quiet_NaN();
        return sum_abs_diff / static_cast<double>(count);
    }

    /// max |base - target| / (max(base) - min(base)); an interval of 0 counts as 1.
    float peir() const {
        if (saw_nan || count == 0) return std::numeric_limits<float>::quiet_NaN();
        const float interval = base_max - base_min;
        return max_abs_diff / (interval == 0.0f ? 1.0f : interval);
    }

    float max_diff() const { return saw_nan ? std::numeric_limits<float>::quiet_NaN() : max_abs_diff; }
};

/// The error of one site, or of one module's output, on all samples compared.
struct site_error {
    std::string name;  ///< Dotted observer name, or module path for module outputs.
    std::string site;  ///< For a module: the observer whose value is its output.
    running_error error;
};

/// Compares, site by site, a float forward with a quantized forward of the
/// same input: run one forward inside float_pass() with fake quantization
/// off, then the same forward inside quantized_pass() with it on, for each
/// sample. A site reached several times in one forward accumulates all of
/// its values.
///
/// float_pass() keeps a copy of every site's tensor until the matching
/// quantized_pass() reads it: the activation memory of one whole forward,
/// about 30 MB per token for Gemma 4 E2B. The first `memory_budget` bytes
/// (1 GiB by default) stay in memory and the rest go to an unlinked
/// temporary file (see tensor_spill), so a long sample of a large model
/// costs disk space in TMPDIR instead of resident memory.
///
/// Example:
/// @code
///   site_comparison comparison;
///   fake_quant_state saved(model);
///   for (const auto& ids : held_out) {
///       saved.set_all(false);
///       { auto pass = comparison.float_pass(); model.forward(ids); }
///       saved.set_all(true);
///       { auto pass = comparison.quantized_pass(); model.forward(ids); }
///   }
///   for (const site_error& m : comparison.module_outputs()) std::cout << m.name << " " << m.error.peir() << "\n";
/// @endcode
class site_comparison {
    class float_recorder final : public site_recorder {
    public:
        explicit float_recorder(site_comparison& owner) : owner_(&owner) {}
        void record(const std::string& name, const tensor& value) override {
            owner_->pending_names_.push_back(name);
            owner_->pending_values_.push(value);
        }

    private:
        site_comparison* owner_;
    };

    class quantized_recorder final : public site_recorder {
    public:
        explicit quantized_recorder(site_comparison& owner) : owner_(&owner) {}
        void record(const std::string& name, const tensor& value) override { owner_->compare_next(name, value); }

    private:
        site_comparison* owner_;
    };

public:
    static constexpr std::size_t default_memory_budget = std::size_t{1} << 30;

    explicit site_comparison(std::size_t memory_budget = default_memory_budget) : pending_values_(memory_budget) {}

    /// Bytes of float tensors the last float pass wrote to the temporary file.
    std::uint64_t spilled_bytes() const noexcept { return pending_values_.spilled_bytes(); }

    /// A pass in progress: its recorder is installed for the current thread
    /// until the object is destroyed.
    template <class Recorder>
    class pass {
    public:
        explicit pass(site_comparison& owner) : recorder_(owner), scope_(recorder_) {}

    private:
        Recorder recorder_;
        scoped_site_recorder scope_;
    };

    /// Starts recording the float forward of one sample.
    /// Throws invalid_argument when the previous quantized pass did not
    /// consume every recorded site.
    [[nodiscard]] pass<float_recorder> float_pass() {
        if (next_ != pending_names_.size()) {
            throw invalid_argument("site_comparison: the quantized forward reached " + std::to_string(next_) + " of " +
                                   std::to_string(pending_names_.size()) +
                                   " sites of the float forward; run the same input through both passes");
        }
        pending_names_.clear();
        pending_values_.clear();
        next_ = 0;
        return pass<float_recorder>(*this);
    }

    /// Starts comparing the quantized forward with the last float forward.
    [[nodiscard]] pass<quantized_recorder> quantized_pass() {
        next_ = 0;
        return pass<quantized_recorder>(*this);
    }

    /// Returns every site in the order the first forward reached it.
    std::vector<site_error> sites() const {
        std::vector<site_error> out;
        for (const std::string& name : order_) out.push_back({name, name, errors_.at(name)});
        return out;
    }

    /// Returns one entry per module path that contains a site: the error of
    /// its output, taken at the last site its forward reaches, because that
    /// is where a block quantizes what it returns. Modules are listed in the order
    /// their output sites are reached. The root path "" is left out.
    ///
    /// Example: sites "layers.0.mlp.act_in" then "layers.0.mlp.act_out" give
    /// "layers.0.mlp" and "layers.0" (both from act_out) and "layers".
    std::vector<site_error> module_outputs() const {
        std::map<std::string, std::size_t> last_site;  // module path -> index in order_
        for (std::size_t i = 0; i < order_.size(); ++i) {
            const std::string& name = order_[i];
            for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
                last_site[name.substr(0, dot)] = i;
            }
        }
        std::vector<std::pair<std::size_t, std::string>> ordered;
        for (const auto& [module, index] : last_site) ordered.emplace_back(index, module);
        // Same output site: the innermost module first, as a forward returns.
        std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
            if (a.first != b.first) return a.first < b.first;
            return a.second.size() > b.second.size();
        });

        std::vector<site_error> out;
        for (const auto& [index, module] : ordered) out.push_back({module, order_[index], errors_.at(order_[index])});
        return out;
    }

private:
    void compare_next(const std::string& name, const tensor& value) {
        if (next_ >= pending_names_.size() || pending_names_[next_] != name) {
            const std::string expected = next_ < pending_names_.size() ? pending_names_[next_] : std::string("no further site");
            throw invalid_argument("site_comparison: the quantized forward reached site " + name + " where the float forward reached " +
                                   expected + "; run the same input through both passes");
        }
        const tensor base = pending_values_.take(next_);  // frees its memory as the pass goes on
        if (base.size() != value.size()) {
            throw shape_error("site_comparison: site " + name + " has " + std::to_string(value.size()) +
                              " elements in the quantized forward and " + std::to_string(base.size()) + " in the float forward");
        }
        auto [it, inserted] = errors_.try_emplace(name);
        if (inserted) order_.push_back(name);
        it->second.add(base, value);
        ++next_;
    }

    std::vector<std::string> pending_names_;
    tensor_spill pending_values_;
    std::size_t next_ = 0;
    std::map<std::string, running_error> errors_;
    std::vector<std::string> order_;
};

}  // namespace wrapq
