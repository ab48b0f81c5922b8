// wrapq/module/member.hpp: compile-time member lists that describe a module.
#pragma once

#include "wrapq/config.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace wrapq {

/// One named data member of class `Class`: the dotted-name segment and a
/// pointer to the member. Children, observers and parameters are all listed
/// this way, so one list drives visiting, checkpoint binding and reports.
template <class Class, class T>
struct member {
    using class_type = Class;
    using value_type = T;

    std::string_view name;
    T Class::*pointer;
};

/// Makes a member entry; the types come from the member pointer.
///
/// Example:
/// @code
///   struct norm {
///       any_observer act_in, act_out;
///       static constexpr auto members() {
///           return std::tuple{wrapq::field("act_in", &norm::act_in), wrapq::field("act_out", &norm::act_out)};
///       }
///   };
/// @endcode
template <class Class, class T>
constexpr member<Class, T> field(std::string_view name, T Class::*pointer) noexcept {
    return {name, pointer};
}

/// A type that lists its members with a static `members()` returning a tuple of `member`s.
template <class T>
concept Module = requires { std::tuple_size<decltype(std::remove_cvref_t<T>::members())>::value; };

namespace detail {

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
struct is_std_tuple : std::false_type {};
template <class... Ts>
struct is_std_tuple<std::tuple<Ts...>> : std::true_type {};

}  // namespace detail

/// Fixed-size arrays and tuples of modules or observers. Their elements take
/// the index as their name segment ("layers.0", "layers.1", ...), as in
/// Hugging Face module paths.
template <class T>
concept Container = detail::is_std_array<std::remove_cvref_t<T>>::value || detail::is_std_tuple<std::remove_cvref_t<T>>::value;

/// Calls `f(member)` for each entry of `M::members()`, in order.
template <Module M, class F>
constexpr void for_each_member(F&& f) {
    std::apply([&](const auto&... entries) { (f(entries), ...); }, std::remove_cvref_t<M>::members());
}

/// Calls `f(index_constant, element)` for every element of an array or tuple.
template <Container C, class F>
void for_each_element(C& container, F&& f) {
    using plain = std::remove_cvref_t<C>;
    if constexpr (detail::is_std_array<plain>::value) {
        for (std::size_t i = 0; i < container.size(); ++i) f(i, container[i]);
    } else {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f(I, std::get<I>(container)), ...);
        }(std::make_index_sequence<std::tuple_size_v<plain>>{});
    }
}

/// Returns "parent.child", or "child" when the parent is empty.
inline std::string join_name(std::string_view parent, std::string_view child) {
    if (parent.empty()) return std::string(child);
    std::string joined;
    joined.reserve(parent.size() + 1 + child.size());
    joined.append(parent).append(".").append(child);
    return joined;
}

}  // namespace wrapq
