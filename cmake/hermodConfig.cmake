# find_package(hermod) for programs using the installed client library: target hermod::client.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(Boost 1.74)
find_dependency(OpenSSL 3)
include(${CMAKE_CURRENT_LIST_DIR}/hermodTargets.cmake)
