// Entry point of the unit test executable; the cases live in the other files of this folder.
#define BOOST_TEST_MODULE wrapq_unit_tests
#include <boost/test/unit_test.hpp>
