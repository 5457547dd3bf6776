// Catch2 3 in place of Catch2 2's single header (see cmake/catch2_compat.cmake):
// only on the include path when the system's Catch2 is version 3.
#pragma once

#include <catch2/catch_all.hpp>

// Catch2 2 put Approx in the global namespace; 3 keeps it in Catch.
using Catch::Approx;
