#pragma once
// The log dock: the core's and the studio's log records, filterable by level.

#include "LogModel.h"

#include <QDockWidget>

class QComboBox;
class QTableView;

namespace lms::ui {

class LogDock final : public QDockWidget {
    Q_OBJECT
public:
    // `model` is not owned (it outlives windows: the application keeps it).
    explicit LogDock(LogModel* model, QWidget* parent = nullptr);
    LogFilterModel* filterModel() const { return m_filter; }
    void setMinimumLevel(LogLevel level);

private:
    void scrollIfAtBottom();

    LogModel* m_model;
    LogFilterModel* m_filter;
    QComboBox* m_levelCombo;
    QTableView* m_view;
    bool m_followTail = true;
};

}  // namespace lms::ui
