"use client";

import { useEffect, useState } from "react";

/** A clock that ticks, so "updated 4 s ago" stays true between refreshes. */
export function useNow(ms = 1000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const t = setInterval(() => setNow(new Date()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
