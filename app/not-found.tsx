import Link from "next/link";

export default function NotFound() {
  return (
    <div className="mx-auto max-w-lg py-16 text-center">
      <h1 className="text-2xl font-semibold">Not found</h1>
      <p className="mt-2 text-slate-600">There is nothing at this address.</p>
      <Link href="/backups" className="mt-4 inline-block text-blue-700 underline">
        Back to the backup history
      </Link>
    </div>
  );
}
