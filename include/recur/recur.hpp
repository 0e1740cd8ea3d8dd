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
#include "recur/ops.hpp"
#include "recur/optim/adagrad.hpp"
#include "recur/optim/adam.hpp"
#include "recur/optim/clip.hpp"
#include "recur/optim/lr_scheduler.hpp"
#include "recur/optim/optimizer.hpp"
#include "recur/optim/rmsprop.hpp"
#include "recur/optim/sgd.hpp"
