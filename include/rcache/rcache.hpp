// rcache — umbrella header.
#pragma once

#include "rcache/client.hpp"
#include "rcache/config.hpp"
#include "rcache/error.hpp"
#include "rcache/reply.hpp"
#include "rcache/version.hpp"
