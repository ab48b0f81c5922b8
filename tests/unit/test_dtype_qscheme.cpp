// Integer formats and quantization schemes.
#include <wrapq/core/dtype.hpp>
#include <wrapq/core/qparams.hpp>
#include <wrapq/core/qscheme.hpp>

#include <boost/test/unit_test.hpp>

using namespace wrapq;

BOOST_AUTO_TEST_SUITE(dtype_and_qscheme)

BOOST_AUTO_TEST_CASE(preset_ranges) {
    BOOST_TEST(uint4.qmin() == 0);
    BOOST_TEST(uint4.qmax() == 15);
    BOOST_TEST(int4.qmin() == -8);
    BOOST_TEST(int4.qmax() == 7);
    BOOST_TEST(uint8.qmin() == 0);
    BOOST_TEST(uint8.qmax() == 255);
    BOOST_TEST(int8.qmin() == -128);
    BOOST_TEST(int8.qmax() == 127);
    BOOST_TEST(int16.qmin() == -32768);
    BOOST_TEST(int16.qmax() == 32767);
}

BOOST_AUTO_TEST_CASE(odd_widths_and_names) {
    constexpr dtype int6{6, true};
    constexpr dtype uint5{5, false};
    static_assert(int6.qmin() == -32 && int6.qmax() == 31);
    static_assert(uint5.qmin() == 0 && uint5.qmax() == 31);
    BOOST_TEST(dtype(3, true).name() == "int3");
    BOOST_TEST(uint8.name() == "uint8");
    BOOST_TEST(!dtype(17, true).is_valid());
    BOOST_TEST(!dtype(1, false).is_valid());
}

BOOST_AUTO_TEST_CASE(dtype_as_template_argument) {
    // A dtype value must work as a non-type template argument.
    constexpr auto qmax_of = []<dtype D>() { return D.qmax(); };
    BOOST_TEST(qmax_of.template operator()<int16>() == 32767);
}

BOOST_AUTO_TEST_CASE(scheme_predicates_and_text) {
    BOOST_TEST(is_per_channel(qscheme::per_channel_asymm));
    BOOST_TEST(is_per_channel(qscheme::per_channel_symm));
    BOOST_TEST(!is_per_channel(qscheme::per_tensor_symm));
    BOOST_TEST(is_symmetric(qscheme::per_tensor_symm));
    BOOST_TEST(!is_symmetric(qscheme::per_channel_asymm));
    BOOST_TEST(to_string(qscheme::per_tensor_asymm) == "per_tensor_asymm");
    BOOST_TEST(to_string(qscheme::per_channel_symm) == "per_channel_symm");
}

BOOST_AUTO_TEST_CASE(unsigned_symmetric_is_invalid) {
    static_assert(!is_valid_pairing(uint8, qscheme::per_tensor_symm));
    static_assert(!is_valid_pairing(uint4, qscheme::per_channel_symm));
    static_assert(is_valid_pairing(int16, qscheme::per_tensor_symm));
    static_assert(is_valid_pairing(int16, qscheme::per_channel_asymm));
    BOOST_TEST(is_valid_pairing(uint8, qscheme::per_tensor_asymm));
}

BOOST_AUTO_TEST_CASE(default_scheme_policy) {
    BOOST_TEST(default_qscheme(int16, true) == qscheme::per_tensor_symm);
    BOOST_TEST(default_qscheme(int8, false) == qscheme::per_tensor_symm);
    BOOST_TEST(default_qscheme(uint8, true) == qscheme::per_channel_asymm);
    BOOST_TEST(default_qscheme(uint4, false) == qscheme::per_tensor_asymm);
}

BOOST_AUTO_TEST_CASE(qparams_validation) {
    BOOST_CHECK_NO_THROW(qparams::per_tensor(0.1f, 5, uint8));
    BOOST_CHECK_THROW(qparams::per_tensor(0.0f, 0, uint8), invalid_argument);
    BOOST_CHECK_THROW(qparams::per_tensor(-1.0f, 0, uint8), invalid_argument);
    BOOST_CHECK_THROW(qparams::per_tensor(std::numeric_limits<float>::infinity(), 0, uint8), invalid_argument);
    BOOST_CHECK_THROW(qparams::per_tensor(std::numeric_limits<float>::quiet_NaN(), 0, uint8), invalid_argument);
    BOOST_CHECK_THROW(qparams::per_tensor(0.1f, 256, uint8), invalid_argument);
    BOOST_CHECK_THROW(qparams::per_tensor(0.1f, -129, int8), invalid_argument);
    BOOST_CHECK_THROW(qparams::per_channel({0.1f, 0.2f}, {0}, 0, uint8), invalid_argument);
    BOOST_CHECK_THROW(qparams::per_channel({}, {}, 0, uint8), invalid_argument);
}

BOOST_AUTO_TEST_CASE(qparams_error_names_value) {
    try {
        qparams::per_tensor(0.1f, 300, uint8);
        BOOST_FAIL("expected invalid_argument");
    } catch (const invalid_argument& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("300") != std::string::npos);
        BOOST_TEST(message.find("[0, 255]") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
