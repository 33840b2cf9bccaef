#pragma once
// One algorithm parameter's editor: a spin box over the parameter's range from common/, whole
// numbers for integer parameters, and numbers written as the config writes them ("0.84", not
// "0.840000000"). A value the range allows but the rules refuse (delta 0 when the range is
// (0,100], a table size that is not prime) can still be typed: the form says why beside it.

#include "common/algorithm_params.hpp"

#include <QDoubleSpinBox>

namespace dlb::console {

class ParamSpinBox : public QDoubleSpinBox {
    Q_OBJECT
public:
    ParamSpinBox(const common::ParamSpec& spec, QWidget* parent = nullptr);

    QString textFromValue(double value) const override;
};

// "range [0,1], default 0.84; whole number" for the line beside the editor.
QString describeRange(const common::ParamSpec& spec);

} // namespace dlb::console
