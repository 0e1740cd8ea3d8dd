// The one header a user of recur includes.
#pragma once

#include "recur/autograd.hpp"
#include "recur/core/device.hpp"
#include "recur/core/dtype.hpp"
#include "recur/core/error.hpp"
#include "recur/core/random.hpp"
#include "recur/core/shape.hpp"
#include "recur/core/tensor.hpp"
#include "recur/core/threading.hpp"
#include "recur/nn/activation.hpp"
#include "recur/nn/dropout.hpp"
#include "recur/nn/embedding.hpp"
#include "recur/nn/init.hpp"
#include "recur/nn/linear.hpp"
#include "recur/nn/module.hpp"
#include "recur/nn/sequential.hpp"
#include "recur/ops.hpp"
