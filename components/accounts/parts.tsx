import type { ReactNode } from "react";
import { ROLES, type Role } from "@/lib/contracts/auth";

/** The field style of the accounts forms. */
export const field = "rounded-md border border-slate-300 px-2 py-1.5 text-sm";

/** The users' and tokens' table: a header row of `columns` (the last one untitled, for actions) and the rows. */
export function AccountsTable({ columns, children }: { columns: string[]; children: ReactNode }) {
  return (
    <div className="relative overflow-x-auto">
      <table className="w-full text-left text-sm">
        <thead className="text-xs uppercase tracking-wide text-slate-500">
          <tr>
            {columns.map((c) => (
              <th key={c} className="py-2 pr-3 font-medium">
                {c}
              </th>
            ))}
            <th className="py-2 font-medium" />
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A role chooser. */
export function RoleSelect({ value, onChange, label, disabled }: { value: Role; onChange: (r: Role) => void; label?: string; disabled?: boolean }) {
  return (
    <select aria-label={label} className={field} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as Role)}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}
