// wrapq/module/visitor.hpp: the static visitor over observers and modules, with dotted names.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/module/weight_matrix.hpp"
#include "wrapq/observers/observer.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace wrapq {

class any_observer;

namespace detail {

/// Counts the observers reachable from `T`, or with `OnlyAny` only those
/// that are any_observer.
template <class T, bool OnlyAny = false>
constexpr std::size_t observer_count_of();

template <class Tuple, bool OnlyAny, std::size_t... I>
constexpr std::size_t tuple_observer_count(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + observer_count_of<std::tuple_element_t<I, Tuple>, OnlyAny>());
}

template <class T, bool OnlyAny>
constexpr std::size_t observer_count_of() {
    using U = std::remove_cvref_t<T>;
    if constexpr (Observer<U>) {
        return !OnlyAny || std::is_same_v<U, any_observer> ? 1 : 0;
    } else if constexpr (Module<U>) {
        std::size_t count = 0;
        for_each_member<U>([&](const auto& entry) {
            count += observer_count_of<typename std::remove_cvref_t<decltype(entry)>::value_type, OnlyAny>();
        });
        return count;
    } else if constexpr (is_std_array<U>::value) {
        return std::tuple_size_v<U> * observer_count_of<typename U::value_type, OnlyAny>();
    } else if constexpr (is_std_tuple<U>::value) {
        return tuple_observer_count<U, OnlyAny>(std::make_index_sequence<std::tuple_size_v<U>>{});
    } else {
        return 0;
    }
}

template <class T>
constexpr std::size_t parameter_count_of();

template <class Tuple, std::size_t... I>
constexpr std::size_t tuple_parameter_count(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + parameter_count_of<std::tuple_element_t<I, Tuple>>());
}

template <class T>
constexpr std::size_t parameter_count_of() {
    using U = std::remove_cvref_t<T>;
    if constexpr (Parameter<U>) {
        std::size_t n = 1;
        for (std::size_t d : U::shape) n *= d;
        return n;
    } else if constexpr (Module<U>) {
        std::size_t count = 0;
        for_each_member<U>([&](const auto& entry) {
            count += parameter_count_of<typename std::remove_cvref_t<decltype(entry)>::value_type>();
        });
        return count;
    } else if constexpr (is_std_array<U>::value) {
        return std::tuple_size_v<U> * parameter_count_of<typename U::value_type>();
    } else if constexpr (is_std_tuple<U>::value) {
        return tuple_parameter_count<U>(std::make_index_sequence<std::tuple_size_v<U>>{});
    } else {
        return 0;
    }
}

template <class Node, class F>
void visit_parameters(Node& node, const std::string& name, F& f) {
    using plain = std::remove_cvref_t<Node>;
    if constexpr (Parameter<plain>) {
        f(name, node);
    } else if constexpr (Module<plain>) {
        for_each_member<plain>([&](const auto& entry) {
            visit_parameters(node.*entry.pointer, join_name(name, entry.name), f);
        });
    } else if constexpr (Container<plain>) {
        for_each_element(node, [&](std::size_t index, auto& element) {
            visit_parameters(element, join_name(name, std::to_string(index)), f);
        });
    }
}

template <class Node, class F>
void visit_observers(Node& node, const std::string& name, F& f);

/// Visits a module: its own observers first, in member order, then its
/// children in member order. This is the order in which a TICO wrapper
/// lists its observers, so names and counts line up with the reference.
template <class M, class F>
void visit_module_observers(M& module, const std::string& prefix, F& f) {
    using plain = std::remove_cvref_t<M>;
    for_each_member<plain>([&](const auto& entry) {
        using value = typename std::remove_cvref_t<decltype(entry)>::value_type;
        if constexpr (Observer<value>) f(join_name(prefix, entry.name), module.*entry.pointer);
    });
    for_each_member<plain>([&](const auto& entry) {
        using value = typename std::remove_cvref_t<decltype(entry)>::value_type;
        if constexpr (!Observer<value>) visit_observers(module.*entry.pointer, join_name(prefix, entry.name), f);
    });
}

template <class Node, class F>
void visit_observers(Node& node, const std::string& name, F& f) {
    using plain = std::remove_cvref_t<Node>;
    if constexpr (Observer<plain>) {
        f(name, node);
    } else if constexpr (Module<plain>) {
        visit_module_observers(node, name, f);
    } else if constexpr (Container<plain>) {
        for_each_element(node, [&](std::size_t index, auto& element) {
            visit_observers(element, join_name(name, std::to_string(index)), f);
        });
    }
}

template <class Node, class F>
void visit_modules(Node& node, const std::string& name, F& f) {
    using plain = std::remove_cvref_t<Node>;
    if constexpr (Module<plain>) {
        f(name, node);
        for_each_member<plain>([&](const auto& entry) {
            visit_modules(node.*entry.pointer, join_name(name, entry.name), f);
        });
    } else if constexpr (Container<plain>) {
        for_each_element(node, [&](std::size_t index, auto& element) {
            visit_modules(element, join_name(name, std::to_string(index)), f);
        });
    }
}

/// An observer of a model and its dotted name.
struct named_observer {
    std::string name;
    any_observer* observer;
};

/// A parameter of a model seen without its compile-time shape: its dotted
/// name, its tensor, its shape (the parameter's `shape` constant) and, for a
/// weight_matrix, its borrowed bf16 words (null for other parameters).
struct named_parameter {
    std::string name;
    tensor* value;
    std::span<const std::size_t> shape;
    borrowed_bf16* words = nullptr;
};

/// The visitor callbacks behind observer_list() and parameter_list(). Their
/// types depend neither on the model nor on the caller, so each module type
/// gets one copy of the walk, shared by every function that walks the model.
/// A caller's lambda as the callback would give each caller its own copy.
/// For the E2B program (GCC 12, -O2) such copies were about 30% of the code.
struct observer_list_builder {
    std::vector<named_observer>* out;
    void operator()(const std::string& name, any_observer& observer) const { out->push_back({name, &observer}); }
};

struct parameter_list_builder {
    std::vector<named_parameter>* out;
    template <class P>
    void operator()(const std::string& name, P& p) const {
        borrowed_bf16* words = nullptr;
        if constexpr (requires { p.bf16; }) words = &p.bf16;
        out->push_back({name, &p.value, std::span<const std::size_t>(P::shape), words});
    }
};

/// True when every observer reachable from `M` is an any_observer, so that
/// observer_list() can reach all of them.
template <class M>
inline constexpr bool only_any_observers = observer_count_of<M, true>() == observer_count_of<M>();

/// Returns every observer of `model` with its dotted name, in the order of for_each_observer().
template <Module M>
    requires only_any_observers<M>
std::vector<named_observer> observer_list(M& model) {
    std::vector<named_observer> out;
    out.reserve(observer_count_of<M>());
    observer_list_builder add{&out};
    visit_module_observers(model, std::string(), add);
    return out;
}

/// Returns every parameter of `model` with its dotted name, in the order of for_each_parameter().
template <Module M>
std::vector<named_parameter> parameter_list(M& model) {
    std::vector<named_parameter> out;
    parameter_list_builder add{&out};
    visit_parameters(model, std::string(), add);
    return out;
}

}  // namespace detail

/// Number of observers reachable from `M`, as a constant expression.
///
/// Example:
/// @code
///   static_assert(wrapq::observer_count<nn::linear<4, 2>> == 3);   // weight, act_in, act_out
/// @endcode
template <class M>
inline constexpr std::size_t observer_count = detail::observer_count_of<M>();

/// Number of float weights in the parameters reachable from `M`, as a
/// constant expression, without constructing an `M`.
///
/// Example:
/// @code
///   static_assert(wrapq::parameter_count<nn::linear<4, 2, true>> == 4 * 2 + 2);
/// @endcode
template <class M>
inline constexpr std::size_t parameter_count = detail::parameter_count_of<M>();

/// Calls `f(dotted_name, parameter)` for every parameter reachable from
/// `model`, in member order. Checkpoint loading binds tensors by these names.
template <Module M, class F>
void for_each_parameter(M& model, F&& f) {
    detail::visit_parameters(model, std::string(), f);
}

/// Calls `f(dotted_name, observer)` once for every observer reachable from
/// `model`, in a stable pre-order: a module's own observers in member order,
/// then each child's. Array and tuple elements are named by index, so a name
/// reads like a Hugging Face module path: "layers.0.self_attn.q_proj.act_in".
///
/// Example:
/// @code
///   wrapq::for_each_observer(model, [](const std::string& name, auto& observer) {
///       std::cout << name << ' ' << observer.kind << '\n';
///   });
/// @endcode
///
/// When every observer of `model` is an any_observer, the walk first builds
/// a list and `f` then runs over it, so all callers share one copy of the walk.
template <Module M, class F>
void for_each_observer(M& model, F&& f) {
    if constexpr (!std::is_const_v<M> && detail::only_any_observers<M>) {
        for (const detail::named_observer& entry : detail::observer_list(model)) f(entry.name, *entry.observer);
    } else {
        detail::visit_module_observers(model, std::string(), f);
    }
}

/// Calls `f(dotted_name, module)` for `model` (named "") and every module
/// below it, parents before children.
template <Module M, class F>
void for_each_module(M& model, F&& f) {
    detail::visit_modules(model, std::string(), f);
}

}  // namespace wrapq
