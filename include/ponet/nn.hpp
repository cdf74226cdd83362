// ponet's neural-network layers, models and optimizer (everything under ponet/nn/), with the CPU
// entry points they call. Include after (or instead of) ponet/ponet.hpp. The FNet mixer and
// make_classifier (ponet/nn/models.hpp) also need FFTW: include them and link ponet::fftw.
#pragma once

#include "ponet/cpu/cross_entropy.hpp"
#include "ponet/cpu/embedding.hpp"
#include "ponet/cpu/layer_norm.hpp"
#include "ponet/cpu/linalg.hpp"
#include "ponet/cpu/pooling.hpp"
#include "ponet/nn/adamw.hpp"
#include "ponet/nn/block.hpp"
#include "ponet/nn/checkpoint.hpp"
#include "ponet/nn/classifier.hpp"
#include "ponet/nn/embedding.hpp"
#include "ponet/nn/layer_norm.hpp"
#include "ponet/nn/linear.hpp"
#include "ponet/nn/params.hpp"
#include "ponet/nn/ponet_mixer.hpp"
#include "ponet/ponet.hpp"
