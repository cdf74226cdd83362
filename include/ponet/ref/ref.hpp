// The scalar reference: every operator's forward and backward as plain loops (the spec).
#pragma once

#include "ponet/ref/common.hpp"
#include "ponet/ref/global_attn.hpp"
#include "ponet/ref/masked_mean.hpp"
#include "ponet/ref/mixing.hpp"
#include "ponet/ref/segment_max.hpp"
#include "ponet/ref/window_max.hpp"
