// wrapq/module/visitor.hpp: the static visitor over observers and modules, with dotted names.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/observers/observer.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace wrapq {

namespace detail {

template <class T>
constexpr std::size_t observer_count_of();

template <class Tuple, std::size_t... I>
constexpr std::size_t tuple_observer_count(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + observer_count_of<std::tuple_element_t<I, Tuple>>());
}

template <class T>
constexpr std::size_t observer_count_of() {
    using U = std::remove_cvref_t<T>;
    if constexpr (Observer<U>) {
        return 1;
    } else if constexpr (Module<U>) {
        std::size_t count = 0;
        for_each_member<U>([&](const auto& entry) {
            count += observer_count_of<typename std::remove_cvref_t<decltype(entry)>::value_type>();
        });
        return count;
    } else if constexpr (is_std_array<U>::value) {
        return std::tuple_size_v<U> * observer_count_of<typename U::value_type>();
    } else if constexpr (is_std_tuple<U>::value) {
        return tuple_observer_count<U>(std::make_index_sequence<std::tuple_size_v<U>>{});
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
template <Module M, class F>
void for_each_observer(M& model, F&& f) {
    detail::visit_module_observers(model, std::string(), f);
}

/// Calls `f(dotted_name, module)` for `model` (named "") and every module
/// below it, parents before children.
template <Module M, class F>
void for_each_module(M& model, F&& f) {
    detail::visit_modules(model, std::string(), f);
}

}  // namespace wrapq
