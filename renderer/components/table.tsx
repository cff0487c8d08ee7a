/** A data table with a header row; columns are labels, or labels with alignment and sort state. */
import type { ReactNode } from 'react';

export interface Column {
  label: ReactNode;
  /** Right-aligned numbers. */
  num?: boolean;
  /** A label for screen readers only (an actions column). */
  hidden?: boolean;
  sort?: 'ascending' | 'descending' | 'none';
}

export function Table({ columns, caption, testId, children }: { columns: (string | Column)[]; caption?: string; testId?: string; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        {caption && <caption className="visually-hidden">{caption}</caption>}
        <thead>
          <tr>
            {columns.map((c, i) => {
              const column = typeof c === 'string' ? { label: c } : c;
              return (
                <th key={i} className={column.num ? 'num' : undefined} aria-sort={column.sort}>
                  {column.hidden ? <span className="visually-hidden">{column.label}</span> : column.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
