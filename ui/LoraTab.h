#pragma once
// The LoRA tab: the merge plan, one row per A/B pair, with a checkbox per pair to leave it out
// and the counts of pairs and problems.

#include "lms/lora/LoraPlan.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;
class QTableView;

namespace lms::ui {

class LoraPairFilterModel;
class LoraPairModel;

class LoraTab final : public QWidget {
    Q_OBJECT
public:
    explicit LoraTab(QWidget* parent = nullptr);

    void setPlan(const LoraPlan& plan);
    void clear();
    LoraPairModel* pairModel() const { return m_model; }
    QTableView* view() const { return m_view; }
    // The plan options the user chose here (pairs left out, square orientation).
    PlanOptions planOptions() const;

signals:
    void planOptionsChanged();
    // The user asked to see a parameter (double-click on a row).
    void showTensorRequested(const QString& name);

private:
    void updateCounts();

    LoraPairModel* m_model;
    LoraPairFilterModel* m_filter;
    QLabel* m_countsLabel;
    QLabel* m_emptyLabel;
    QCheckBox* m_problemsOnly;
    QComboBox* m_orientation;
    QPushButton* m_includeAll;
    QPushButton* m_excludeAll;
    QTableView* m_view;
};

}  // namespace lms::ui
