// Entry point of wrapq_circle_verify: the Circle unit tests plus official_schema.cpp,
// built with the verifier that flatc generates from the official Circle schema.
#define BOOST_TEST_MODULE wrapq_circle_verify
#include <boost/test/unit_test.hpp>
