// wrapq/module.hpp: member lists, the static visitor, ptq_config and its JSON reader, the lifecycle and reports.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/module/fake_quant_switch.hpp"
#include "wrapq/module/lifecycle.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/name_match.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/module/ptq_config.hpp"
#include "wrapq/module/ptq_config_json.hpp"
#include "wrapq/module/quant_spec_json.hpp"
#include "wrapq/module/report.hpp"
#include "wrapq/module/site_errors.hpp"
#include "wrapq/module/site_recorder.hpp"
#include "wrapq/module/visitor.hpp"
