#pragma once
// The LoRA plan as a table: one row per A/B pair with its base, shapes, rank, orientation and
// status. The first column is checkable: unchecking a pair leaves it out of the merge
// (PlanOptions::disabledBases). Pairs with a problem cannot be checked.

#include "lms/lora/LoraPlan.h"

#include <QAbstractTableModel>
#include <QSet>
#include <QSortFilterProxyModel>

namespace lms::ui {

class LoraPairModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        BaseColumn,
        AColumn,
        BColumn,
        ShapesColumn,  // "W [out, in] = B [out, r] · A [r, in]"
        RankColumn,
        TransposedColumn,
        StatusColumn,
        ColumnCount
    };
    enum Role { RawValueRole = Qt::UserRole + 1, StatusRole };

    explicit LoraPairModel(QObject* parent = nullptr);

    // Shows `plan`. Rows are kept (and only their cells refreshed) when the pairs are the same
    // as before, so selection and scrolling survive a change of options.
    void setPlan(const LoraPlan& plan);
    const LoraPlan& plan() const { return m_plan; }
    QStringList disabledBases() const;
    // Checks (includes) or unchecks every pair that can be; emits disabledBasesChanged once.
    void setAllIncluded(bool included);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

signals:
    void disabledBasesChanged(const QStringList& bases);

private:
    bool samePairs(const LoraPlan& other) const;
    bool checkable(int row) const;

    LoraPlan m_plan;
    QSet<QString> m_disabled;
};

// Optionally shows only the pairs with a problem.
class LoraPairFilterModel final : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit LoraPairFilterModel(QObject* parent = nullptr);
    void setProblemsOnly(bool problemsOnly);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    bool m_problemsOnly = false;
};

}  // namespace lms::ui
