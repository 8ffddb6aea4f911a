import Link from "next/link";
import { Banner } from "@/components/ui/banner";

/** An id that is not (or no longer) in the catalog: retention may have deleted it. */
export default function BackupNotFound() {
  return (
    <Banner tone="warning" title="No such backup set">
      <p>
        The catalog has no set with this id as of its last refresh: it may have been deleted (retention), or the link is wrong.{" "}
        <Link href="/backups" className="font-medium underline">
          See all backups
        </Link>
        .
      </p>
    </Banner>
  );
}
